#include "cli/cli.h"

#include "cli/options.h"

#include <QCoreApplication>

#include <cstdio>

namespace isocket::cli {

namespace {

struct Command
{
    const char *name;
    const char *summary;
    int (*run)(const QStringList &args);
};

const Command Commands[] = {
    {"scan", "show every dbtag of the data root with its state and unsent files", runScan},
    {"send", "ship every completed file to the receiver (the ED daemon; --once for one pass)", runSend},
    {"receive", "receive files from edge devices and store them (the DRMS side)", runReceive},
    {"status", "ask the running daemon how it is (or read the disk); exit 0 when all is well",
     runStatus},
    {"keygen", "make this side's TLS key and certificate, and print its fingerprint", runKeygen},
    {"simulate", "write dbtags of data files like the ED's parser (demo, tests, benchmarks)",
     runSimulate},
};

void printUsage(FILE *out)
{
    std::fprintf(out, "Usage: isocket <command> [options]\n\n"
                      "Ships completed data files from an edge device to a receiver, verified "
                      "and durable.\n\nCommands:\n");
    for (const Command &c : Commands)
        std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(out, "\nRun 'isocket <command> --help' for its options.\n");
}

} // namespace

int run(const QStringList &args)
{
    if (args.size() < 2) {
        printUsage(stderr);
        return ExitUsage;
    }
    const QString command = args.at(1);
    if (command == QLatin1String("--help") || command == QLatin1String("-h")
        || command == QLatin1String("help")) {
        printUsage(stdout);
        return ExitOk;
    }
    if (command == QLatin1String("--version")) {
        std::printf("isocket %s\n", qPrintable(QCoreApplication::applicationVersion()));
        return ExitOk;
    }
    for (const Command &c : Commands) {
        if (command == QLatin1String(c.name)) {
            QStringList rest = args.mid(2);
            rest.prepend(args.at(0) + QLatin1Char(' ') + command);
            return c.run(rest);
        }
    }
    std::fprintf(stderr, "isocket: unknown command '%s'\n\n", qPrintable(command));
    printUsage(stderr);
    return ExitUsage;
}

} // namespace isocket::cli
