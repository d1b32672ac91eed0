#pragma once
// Committer: makes received files durable and visible in groups, on a worker thread.
//
// submit() takes a job {partial fd, directory fd, partial name, final name} and returns a token
// at once. The worker drains everything queued: fsync of each file, renameat of each
// partial over its final name, then one fsync per distinct directory, and reports each token.
// While it syncs, new jobs accumulate, so a burst of small files shares directory fsyncs.
// The fsyncs of a batch run concurrently (a small private pool): the block layer merges
// their cache flushes, where one after the other each waits for its own (issue 6: ~3 ms each).
// Idle, the worker blocks on a condition variable; nothing polls.
//
// Owns its worker thread (stopped and joined by the destructor; jobs still queued then are
// dropped unreported, their partials left to be resumed) and the fds of queued jobs. Lives in the
// thread that created it; committed() is emitted there, exactly once per token, in submission order
// per batch.

#include "core/error.h"
#include "core/fileutil.h"

#include <QObject>
#include <QString>
#include <QThreadPool>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

class QThread;

namespace isocket {

struct CommitJob
{
    UniqueFd file; // the partial, written and finished (mtime, xattr)
    SharedFd dir;  // the directory holding partName and finalName (shared with the store's cache)
    QString partName;
    QString finalName;
    quint64 token = 0; // set by submit()
};

class Committer : public QObject
{
    Q_OBJECT

public:
    explicit Committer(QObject *parent = nullptr);
    ~Committer() override;

    // Queues the job; returns its token (never 0). Thread-safe, returns at once.
    quint64 submit(CommitJob job);

signals:
    // The file of `token` is at its final name and durable (code Ok), or it is not (an error,
    // the partial left in place).
    void committed(quint64 token, isocket::ErrorCode code, const QString &message);

private:
    struct Outcome
    {
        quint64 token;
        ErrorCode code;
        QString message;
    };
    void run();
    void processBatch(std::deque<CommitJob> &batch);
    void deliver(const std::vector<Outcome> &outcomes);
    std::vector<int> syncAll(const std::deque<CommitJob> &batch);

    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<CommitJob> m_queue;
    bool m_stop = false;
    quint64 m_nextToken = 1;
    QThreadPool m_syncPool; // used by the worker only; outlives it (declared before m_thread)

    struct ThreadStopper
    {
        Committer *committer;
        void operator()(QThread *thread) const;
    };
    std::unique_ptr<QThread, ThreadStopper> m_thread;
};

} // namespace isocket
