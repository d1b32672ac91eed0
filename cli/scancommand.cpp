// `isocket scan`: a read-only report of the data root.

#include "cli/cli.h"
#include "cli/options.h"
#include "core/fsname.h"
#include "core/scanner.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

namespace isocket::cli {

QJsonObject dbtagJson(const DbtagInfo &tag)
{
    QJsonObject o{{QStringLiteral("name"), displayName(tag.name)},
                  {QStringLiteral("state"), stateName(tag.state)},
                  {QStringLiteral("newest"), tag.newest},
                  {QStringLiteral("finished_parse"), tag.hasParse},
                  {QStringLiteral("finished_watch"), tag.hasWatch}};
    if (!tag.listed) {
        for (const char *key : {"files", "unsent", "unsent_bytes", "unsent_files", "skipped"})
            o.insert(QLatin1String(key), QJsonValue::Null);
        return o;
    }
    QJsonArray unsent;
    for (const DataFile &f : tag.files)
        if (!f.sent)
            unsent.append(displayName(f.relPath)); // names are bytes: shown escaped
    o.insert(QStringLiteral("files"), static_cast<int>(tag.files.size()));
    o.insert(QStringLiteral("unsent"), tag.unsentCount());
    o.insert(QStringLiteral("unsent_bytes"), tag.unsentBytes());
    o.insert(QStringLiteral("unsent_files"), unsent);
    // Entries that are not sent at all (links elsewhere, the receiver's reserved names…), and
    // why.
    QJsonArray skipped;
    for (const SkippedEntry &s : tag.skipped)
        skipped.append(QJsonObject{{QStringLiteral("path"), displayName(s.path)},
                                   {QStringLiteral("reason"), s.reason}});
    o.insert(QStringLiteral("skipped"), skipped);
    return o;
}

int runScan(const QStringList &args)
{
    CommandLine cl(QStringLiteral("scan"),
                   QStringLiteral("Show every dbtag of the data root: its state (live, closed, done, "
                                  "abnormal), its files and what is not yet sent. Changes nothing."),
                   {QStringLiteral("data")});
    cl.parser().addOption({QStringLiteral("json"), QStringLiteral("print JSON on stdout")});
    if (const int rc = parse(cl, args); rc >= 0)
        return rc;
    const Config &config = cl.config();

    Scanner scanner(ScanOptions{config.dataRoot, config.prefix, config.doneParse, config.doneWatch});
    auto result = scanner.scan(true);
    if (!result) {
        printError(QStringLiteral("scan"), result.error().message);
        return ExitFailure;
    }
    const QList<DbtagInfo> &tags = result.value();

    if (cl.isSet(QStringLiteral("json"))) {
        QJsonArray array;
        for (const DbtagInfo &tag : tags)
            array.append(dbtagJson(tag));
        const QJsonObject doc{{QStringLiteral("root"), scanner.options().root},
                              {QStringLiteral("prefix"), config.prefix},
                              {QStringLiteral("dbtags"), array}};
        std::fputs(QJsonDocument(doc).toJson(QJsonDocument::Indented).constData(), stdout);
        return ExitOk;
    }

    std::printf("%-28s %-9s %7s %7s %12s %7s\n", "DBTAG", "STATE", "FILES", "UNSENT", "UNSENT SIZE",
                "SKIPPED");
    for (const DbtagInfo &tag : tags) {
        QString state = stateName(tag.state);
        if (tag.state == DbtagState::Abnormal)
            state += QLatin1Char('!');
        if (tag.listed)
            std::printf("%-28s %-9s %7lld %7d %12s %7lld\n", qPrintable(displayName(tag.name)),
                        qPrintable(state), static_cast<long long>(tag.files.size()),
                        tag.unsentCount(), qPrintable(humanBytes(tag.unsentBytes())),
                        static_cast<long long>(tag.skipped.size()));
        else
            std::printf("%-28s %-9s %7s %7s %12s %7s\n", qPrintable(displayName(tag.name)),
                        qPrintable(state), "-", "-", "-", "-");
    }
    for (const DbtagInfo &tag : tags)
        for (const SkippedEntry &s : tag.skipped)
            std::printf("skipped: %s/%s: %s\n", qPrintable(displayName(tag.name)),
                        qPrintable(displayName(s.path)), qPrintable(s.reason));
    if (tags.isEmpty())
        std::printf("(no dbtag under %s with prefix '%s')\n", qPrintable(scanner.options().root),
                    qPrintable(config.prefix));
    bool abnormal = false;
    for (const DbtagInfo &tag : tags)
        abnormal |= tag.state == DbtagState::Abnormal;
    if (abnormal)
        std::printf("abnormal!: %s written without %s (the producer did not close it)\n",
                    qPrintable(config.doneWatch), qPrintable(config.doneParse));
    return ExitOk;
}

} // namespace isocket::cli
