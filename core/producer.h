#pragma once
// The producer simulator: writes dbtags into a data root the way the ED's parser does, for the
// demo, the end-to-end tests, the GUI and the benchmarks.
//
// Timeline of a run: the data root is created if missing; then for each dbtag a directory
// `<prefix><UTC yyyyMMddHHmmss>` (names strictly increasing, also over the dbtags already in
// the root), `files` files `data-000001.dat`… each started `intervalMs` after the previous one
// was closed (with `subdirs`, every third file goes into `sub-1/` or `sub-2/`), then the marker
// `doneParse`, then at once the next dbtag. The last dbtag keeps no marker when `leaveOpen`.
// Files are created with mode exactly 0644 whatever the umask (g+w would mean "sent"), and
// their contents are expectedContents(seed, dbtag number, file number, size), so two runs with
// the same seed write the same bytes. A file is written in chunks of at most 64 KiB, one chunk
// per event-loop turn (small even-numbered files in two halves), so a watcher sees it open.
//
// Event driven on one QTimer in the thread the Producer lives in; never sleeps, never blocks
// for more than one chunk. Owns its timer and the descriptor of the file being written.
//
// Signals: dbtagStarted when a dbtag directory exists; fileWritten once per file, after its last
// byte was written and it was closed; dbtagClosed after its marker was written (never for a
// dbtag left open); progress on the first and the last file and at most ~10 times a second in
// between. Every start() ends with exactly one finished(ok): ok is true when every file and
// marker was written; on an error failed(message) (naming the path and the OS reason) comes
// first; stop() emits finished(false) at once without failed(). A slot may delete the producer
// with deleteLater() from any of these signals, or call stop().

#include "core/fileutil.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QTimer>

namespace isocket {

struct ProducerOptions
{
    QString root;
    QString prefix = QStringLiteral("DC");
    QString doneParse = QStringLiteral("finished.parse");
    int dbtags = 1;
    int files = 10;         // per dbtag
    qint64 size = 4096;     // bytes per file
    int intervalMs = 100;   // from closing one file to starting the next; 0: as fast as possible
    bool leaveOpen = false; // the last dbtag gets no doneParse marker
    bool subdirs = false;   // every third file in sub-1/ or sub-2/
    quint32 seed = 1;
};

class Producer : public QObject
{
    Q_OBJECT

public:
    // Largest single write; also the most one event-loop turn writes.
    static constexpr qint64 ChunkSize = 64 * 1024;

    explicit Producer(ProducerOptions options, QObject *parent = nullptr);
    ~Producer() override;

    const ProducerOptions &options() const { return m_options; }

    // Begins a run and returns at once; the work happens in the event loop. Ignored while a run
    // is going on. Counters and dbtagPaths() restart from zero.
    void start();

    // Ends the run at once (a file being written stays short) and emits finished(false).
    void stop();

    bool isRunning() const { return m_running; }
    int filesWritten() const { return m_filesWritten; }
    qint64 bytesWritten() const { return m_bytesWritten; } // also counts a file being written
    int filesTotal() const { return m_options.dbtags * m_options.files; }
    QStringList dbtagPaths() const { return m_dbtagPaths; } // absolute, oldest first
    QString errorString() const { return m_errorString; }

    // The bytes of file `fileNumber` (1-based) of dbtag `dbtagNumber` (1-based, in the order of
    // the run) for `seed`. Independent of the dbtag's name, so runs can be compared.
    static QByteArray expectedContents(quint32 seed, int dbtagNumber, int fileNumber, qint64 size);

    // "data-000003.dat", or "sub-1/data-000003.dat" with subdirs.
    static QString relativeFilePath(int fileNumber, bool subdirs);

signals:
    void dbtagStarted(const QString &path);
    void fileWritten(const QString &path, qint64 size);
    void dbtagClosed(const QString &path);
    void progress(int filesWritten, int filesTotal);
    void failed(const QString &message);
    void finished(bool ok);

private:
    enum class Step
    {
        Begin,
        StartDbtag,
        StartFile,
        ContinueFile
    };

    void schedule(Step step, int delayMs);
    void runStep();
    void begin();
    void startDbtag();
    void startFile();
    void writeChunk();
    void completeFile();
    void closeDbtag();
    void emitProgress(bool force);
    void fail(const QString &message);
    void finish(bool ok, bool reportFailure);

    ProducerOptions m_options;
    QTimer m_timer{this};
    Step m_next = Step::Begin;
    bool m_running = false;

    qint64 m_lastStampSecs = -1; // UTC seconds of the newest dbtag name so far
    int m_dbtagNumber = 0;       // 1-based, current dbtag
    int m_fileNumber = 0;        // 1-based, current file in the dbtag
    QString m_dbtagPath;
    QString m_filePath;
    UniqueFd m_fd;
    quint64 m_fileKey = 0;
    qint64 m_fileOffset = 0;
    QByteArray m_buffer;

    int m_filesWritten = 0;
    qint64 m_bytesWritten = 0;
    QStringList m_dbtagPaths;
    QString m_errorString;
    QElapsedTimer m_progressClock;
};

} // namespace isocket
