// `isocket keygen`: this side's TLS identity (docs/SECURITY.md): a key, a self-signed
// certificate, and the fingerprint the other side pins.

#include "cli/cli.h"
#include "cli/options.h"
#include "core/tls.h"

#include <QFileInfo>
#include <QHostInfo>

#include <cstdio>

namespace isocket::cli {

int runKeygen(const QStringList &args)
{
    const QString command = QStringLiteral("keygen");
    CommandLine cl(command,
                   QStringLiteral(
                       "Make this side's TLS identity: an EC P-256 private key (mode 0600) and a "
                       "self-signed certificate, then print the certificate's SHA-256 "
                       "fingerprint on stdout. A receiver accepts an ED by its source name and "
                       "fingerprint (a line 'SOURCE FINGERPRINT' in receive.peers); an ED trusts "
                       "the receiver whose fingerprint it pins (send.receiver_fingerprint). "
                       "Files come from --cert and --key, or general.cert and general.key of the "
                       "configuration. --show prints the fingerprint of an existing certificate."),
                   {QStringLiteral("general.cert"), QStringLiteral("general.key")});
    cl.parser().addOption({QStringLiteral("name"),
                           QStringLiteral("the name in the certificate (default: the host name; "
                                          "use the ED's source name)"),
                           QStringLiteral("NAME")});
    cl.parser().addOption(
        {QStringLiteral("force"), QStringLiteral("replace an existing key and certificate")});
    cl.parser().addOption({QStringLiteral("show"),
                           QStringLiteral("print the fingerprint of the certificate and exit")});
    if (const int rc = parse(cl, args); rc >= 0)
        return rc;
    const Config &config = cl.config();
    if (config.certFile.isEmpty() || (config.keyFile.isEmpty() && !cl.isSet(QStringLiteral("show")))) {
        printError(command, QStringLiteral("give --cert FILE and --key FILE (or general.cert and "
                                           "general.key in the configuration)"));
        return ExitUsage;
    }
    if (cl.isSet(QStringLiteral("show"))) {
        const auto certs = QSslCertificate::fromPath(config.certFile, QSsl::Pem);
        if (certs.isEmpty()) {
            printError(command, QStringLiteral("%1 holds no PEM certificate").arg(config.certFile));
            return ExitFailure;
        }
        std::printf("%s\n", qPrintable(fingerprintText(fingerprintOf(certs.first()))));
        return ExitOk;
    }
    QString name = cl.parser().value(QStringLiteral("name"));
    if (name.isEmpty())
        name = QHostInfo::localHostName();
    if (auto r = validateName(name, QStringLiteral("--name")); !r) {
        printError(command, r.error().message);
        return ExitUsage;
    }
    auto identity = generateIdentity(config.certFile, config.keyFile, name,
                                     cl.isSet(QStringLiteral("force")));
    if (!identity) {
        printError(command, identity.error().message);
        return identity.error().code == ErrorCode::ConfigError ? ExitUsage : ExitFailure;
    }
    const QString fp = fingerprintText(identity.value().fingerprint);
    std::fprintf(stderr,
                 "isocket keygen: wrote the key %s (mode 0600: keep it on this machine) and the "
                 "certificate %s for '%s'.\n"
                 "  On a receiver, list this ED in its peers file (receive.peers):\n"
                 "      %s %s\n"
                 "  On an ED, pin this receiver (send.receiver_fingerprint):\n"
                 "      receiver_fingerprint = %s\n",
                 qPrintable(QFileInfo(config.keyFile).absoluteFilePath()),
                 qPrintable(QFileInfo(config.certFile).absoluteFilePath()), qPrintable(name),
                 qPrintable(name), qPrintable(fp), qPrintable(fp));
    std::printf("%s\n", qPrintable(fp));
    return ExitOk;
}

} // namespace isocket::cli
