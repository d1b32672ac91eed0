// `isocket simulate`: the producer simulator, writing dbtags like the ED's parser does.

#include "cli/cli.h"
#include "cli/options.h"
#include "core/producer.h"

#include <QEventLoop>
#include <QFileInfo>

#include <cstdio>
#include <limits>

namespace isocket::cli {

namespace {

const QString Command = QStringLiteral("simulate");

// Reads integer option `name` into `out`; false (after printing why) when it is not a whole
// number in min..max.
bool intOption(const QCommandLineParser &p, const QString &name, qint64 min, qint64 max,
               qint64 &out)
{
    if (!p.isSet(name))
        return true;
    const QString text = p.value(name);
    bool ok = false;
    const qint64 v = text.trimmed().toLongLong(&ok);
    if (!ok || v < min || v > max) {
        printError(Command, QStringLiteral("--%1: '%2' is not a whole number in %3..%4")
                                .arg(name, text)
                                .arg(min)
                                .arg(max));
        return false;
    }
    out = v;
    return true;
}

} // namespace

int runSimulate(const QStringList &args)
{
    CommandLine cl(Command,
                   QStringLiteral("Write dbtags of data files into a data root the way the ED's "
                                  "parser does: one file every interval, then the finished.parse "
                                  "marker, then the next dbtag. Files get mode 0644 and "
                                  "deterministic contents from the seed."),
                   {QStringLiteral("data")});
    QCommandLineParser &p = cl.parser();
    p.addOption({QStringLiteral("dbtags"), QStringLiteral("number of dbtags to write (default 1)"),
                 QStringLiteral("N")});
    p.addOption({QStringLiteral("files"), QStringLiteral("data files per dbtag (default 10)"),
                 QStringLiteral("M")});
    p.addOption({QStringLiteral("size"),
                 QStringLiteral("bytes per file, K/M/G suffixes (default 4K)"),
                 QStringLiteral("BYTES")});
    p.addOption({QStringLiteral("interval"),
                 QStringLiteral("milliseconds between files, 0 as fast as possible (default 100)"),
                 QStringLiteral("MS")});
    p.addOption({QStringLiteral("leave-open"),
                 QStringLiteral("do not write the marker into the last dbtag (it stays live)")});
    p.addOption(
        {QStringLiteral("subdirs"), QStringLiteral("put every third file into a subdirectory")});
    p.addOption({QStringLiteral("seed"), QStringLiteral("seed of the file contents (default 1)"),
                 QStringLiteral("N")});
    p.addOption({QStringLiteral("quiet"), QStringLiteral("no line per dbtag on stderr")});
    if (const int rc = parse(cl, args); rc >= 0)
        return rc;

    // The simulator never writes into the configured data root by accident.
    if (!cl.isSet(QStringLiteral("root"))) {
        printError(Command, QStringLiteral("--root is required (see --help)"));
        return ExitUsage;
    }

    const Config &config = cl.config();
    ProducerOptions options;
    options.root = QFileInfo(config.dataRoot).absoluteFilePath();
    options.prefix = config.prefix;
    options.doneParse = config.doneParse;
    options.leaveOpen = cl.isSet(QStringLiteral("leave-open"));
    options.subdirs = cl.isSet(QStringLiteral("subdirs"));

    constexpr qint64 IntMax = std::numeric_limits<int>::max();
    qint64 dbtags = options.dbtags;
    qint64 files = options.files;
    qint64 interval = options.intervalMs;
    qint64 seed = options.seed;
    if (!intOption(p, QStringLiteral("dbtags"), 1, IntMax, dbtags) ||
        !intOption(p, QStringLiteral("files"), 0, IntMax, files) ||
        !intOption(p, QStringLiteral("interval"), 0, IntMax, interval) ||
        !intOption(p, QStringLiteral("seed"), 0, std::numeric_limits<quint32>::max(), seed))
        return ExitUsage;
    if (dbtags * files > IntMax) {
        printError(Command, QStringLiteral("--dbtags × --files is more than %1 files").arg(IntMax));
        return ExitUsage;
    }
    if (cl.isSet(QStringLiteral("size"))) {
        auto size = parseByteSize(p.value(QStringLiteral("size")), QStringLiteral("--size"));
        if (!size) {
            printError(Command, size.error().message);
            return ExitUsage;
        }
        options.size = size.value();
    }
    options.dbtags = static_cast<int>(dbtags);
    options.files = static_cast<int>(files);
    options.intervalMs = static_cast<int>(interval);
    options.seed = static_cast<quint32>(seed);

    const bool quiet = cl.isSet(QStringLiteral("quiet"));
    Producer producer(options);
    QEventLoop loop;
    int dbtagFiles = 0;
    qint64 dbtagBytes = 0;
    bool ok = false;
    auto report = [&](const QString &path, const char *suffix) {
        if (!quiet)
            std::fprintf(stderr, "%s %d files, %s%s\n", qPrintable(QFileInfo(path).fileName()),
                         dbtagFiles, qPrintable(humanBytes(dbtagBytes)), suffix);
    };
    QObject::connect(&producer, &Producer::dbtagStarted, &loop, [&](const QString &) {
        dbtagFiles = 0;
        dbtagBytes = 0;
    });
    QObject::connect(&producer, &Producer::fileWritten, &loop, [&](const QString &, qint64 size) {
        ++dbtagFiles;
        dbtagBytes += size;
    });
    QObject::connect(&producer, &Producer::dbtagClosed, &loop,
                     [&](const QString &path) { report(path, ""); });
    QObject::connect(&producer, &Producer::failed, &loop,
                     [](const QString &message) { printError(Command, message); });
    QObject::connect(&producer, &Producer::finished, &loop, [&](bool success) {
        ok = success;
        loop.quit();
    });
    producer.start();
    loop.exec();
    if (!ok)
        return ExitFailure;

    if (options.leaveOpen && !producer.dbtagPaths().isEmpty())
        report(producer.dbtagPaths().constLast(), " (left open)");
    std::printf("wrote %d files (%lld bytes) in %d dbtags under %s\n", producer.filesWritten(),
                static_cast<long long>(producer.bytesWritten()), options.dbtags,
                qPrintable(options.root));
    return ExitOk;
}

} // namespace isocket::cli
