#pragma once
// Turns SIGINT and SIGTERM (and SIGHUP: reload) into Qt signals, through a self-pipe and a QSocketNotifier, so that
// a console command can stop cleanly (return tickets, close sockets) in its event loop.

#include <QObject>
#include <QSocketNotifier>

#include <memory>

namespace isocket::cli {

class UnixSignals : public QObject
{
    Q_OBJECT

public:
    explicit UnixSignals(QObject *parent = nullptr);
    ~UnixSignals() override;

Q_SIGNALS:
    void terminationRequested(int signalNumber);
    // SIGHUP: read again what may be read again (the receiver's peers file).
    void reloadRequested();

private:
    std::unique_ptr<QSocketNotifier> m_notifier;
};

} // namespace isocket::cli
