#include "gui/windowlifecycle.h"

#include "core/logging.h"

#include <QCloseEvent>
#include <QMessageBox>
#include <QPushButton>
#include <QWidget>

namespace isocket::gui {

WindowLifecycle::WindowLifecycle(QWidget *window, TrayIcon *tray, TrayRole role,
                                 std::function<PendingWork()> pending)
    : QObject(window),
      m_window(window),
      m_tray(tray),
      m_role(role),
      m_pending(std::move(pending)),
      m_notifications(role == TrayRole::Sender ? QStringLiteral("isocket sender")
                                               : QStringLiteral("isocket receiver"))
{
    m_notifyTimer.setSingleShot(true);
    connect(&m_notifyTimer, &QTimer::timeout, this,
            [this] { show(m_notifications.tick(QDateTime::currentDateTimeUtc())); });
}

CloseDecision WindowLifecycle::decision(CloseRequest request) const
{
    return decideClose(request, m_tray != nullptr, m_pending());
}

bool WindowLifecycle::allowClose(QCloseEvent *event)
{
    if (m_quitting)
        return true;
    switch (decision(CloseRequest::Close)) {
    case CloseDecision::QuitNow:
        quitNow();
        return true;
    case CloseDecision::Hide:
        event->ignore();
        hideToTray();
        return false;
    case CloseDecision::Ask:
        event->ignore();
        ask();
        return false;
    }
    return true;
}

void WindowLifecycle::requestQuit()
{
    if (m_quitting)
        return;
    if (decision(CloseRequest::Quit) == CloseDecision::QuitNow) {
        quitNow();
        m_window->close();
    } else {
        ask();
    }
}

void WindowLifecycle::ask()
{
    if (m_question) {
        m_question->raise();
        m_question->activateWindow();
        return;
    }
    const bool sender = m_role == TrayRole::Sender;
    if (m_window->isHidden()) // asked from the tray: the question needs its window
        m_window->showNormal();
    auto *box = new QMessageBox(QMessageBox::Question,
                                sender ? QStringLiteral("Quit isocket sender?")
                                       : QStringLiteral("Quit isocket receiver?"),
                                quitQuestion(sender, m_pending()), QMessageBox::NoButton,
                                m_window);
    box->setObjectName(QStringLiteral("quitQuestion"));
    QPushButton *quit = box->addButton(sender ? QStringLiteral("&Stop sending and quit")
                                              : QStringLiteral("&Stop receiving and quit"),
                                       QMessageBox::AcceptRole);
    QPushButton *keep = box->addButton(QStringLiteral("&Keep running"), QMessageBox::RejectRole);
    box->setDefaultButton(keep);
    box->setEscapeButton(keep);
    box->setAttribute(Qt::WA_DeleteOnClose);
    m_question = box;
    // open(): window-modal, no nested event loop; the answer comes back here.
    connect(box, &QMessageBox::finished, this, [this, box, quit] {
        if (box->clickedButton() != quit)
            return;
        quitNow();
        m_window->close();
    });
    box->open();
}

void WindowLifecycle::quitNow()
{
    if (m_quitting)
        return;
    m_quitting = true;
    qCInfo(lcGui) << "quitting on the operator's request";
    Q_EMIT quitConfirmed();
}

void WindowLifecycle::hideToTray()
{
    m_window->hide();
    if (m_toldKeepsRunning || !m_tray)
        return;
    m_toldKeepsRunning = true;
    m_tray->showMessage(QStringLiteral("isocket keeps running"),
                        keepsRunningMessage(m_role == TrayRole::Sender, m_pending()), false);
}

void WindowLifecycle::reportHealth(const EdStatus &status)
{
    if (status.run == EdStatus::Run::Failed && !m_loggedStartFailure) {
        m_loggedStartFailure = true;
        qCCritical(lcGui).noquote() << "the sender could not start:" << status.error
                                    << "- fix it, then \"Change settings\" in the window's banner";
    }
    if (status.run == EdStatus::Run::Failed)
        reportHealth(Verdict::Failing, QStringLiteral("Cannot start: %1").arg(status.error));
    else if (status.run == EdStatus::Run::Running && status.health.at.isValid())
        reportHealth(status.health.verdict, status.health.reason);
}

void WindowLifecycle::reportHealth(const ReceiverStatus &status)
{
    if (status.run == ReceiverStatus::Run::Failed && !m_loggedStartFailure) {
        m_loggedStartFailure = true;
        qCCritical(lcGui).noquote() << "the receiver is not listening:" << status.error
                                    << "- fix it, then \"Change settings\" in the window's banner";
    }
    if (status.run == ReceiverStatus::Run::Failed)
        reportHealth(Verdict::Failing, QStringLiteral("Not listening: %1").arg(status.error));
    else if (status.run == ReceiverStatus::Run::Listening && status.health.at.isValid())
        reportHealth(status.health.verdict, status.health.reason);
}

void WindowLifecycle::reportHealth(Verdict verdict, const QString &reason)
{
    show(m_notifications.update(verdict, reason, QDateTime::currentDateTimeUtc()));
}

void WindowLifecycle::show(const std::optional<TrayMessage> &message)
{
    if (message && m_tray)
        m_tray->showMessage(message->title, message->text,
                            message->kind != TrayMessage::Kind::Recovered);
    const QDateTime next = m_notifications.nextCheck();
    if (next.isValid())
        m_notifyTimer.start(int(std::clamp<qint64>(
            QDateTime::currentDateTimeUtc().msecsTo(next), 0, 24 * 3600 * 1000)));
    else
        m_notifyTimer.stop();
}

} // namespace isocket::gui
