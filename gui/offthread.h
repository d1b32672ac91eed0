#pragma once
// runOffThread(): `work` in the global thread pool, then `done(result)` on `context`'s thread,
// unless `context` is gone by then. The result comes back through a QFutureWatcher that is a
// child of `context` (it also delivers a future that finished before it was watched), so
// nothing is called on a destroyed window and the GUI thread never waits.

#include <QFutureWatcher>
#include <QObject>
#include <QPromise>
#include <QThreadPool>

#include <memory>
#include <utility>

namespace isocket::gui {

template <typename T, typename Work, typename Done>
void runOffThread(QObject *context, Work work, Done done)
{
    auto promise = std::make_shared<QPromise<T>>();
    auto *watcher = new QFutureWatcher<T>(context);
    QObject::connect(watcher, &QFutureWatcherBase::finished, context,
                     [watcher, done = std::move(done)]() mutable {
                         if (watcher->future().resultCount() > 0)
                             done(watcher->result());
                         watcher->deleteLater();
                     });
    promise->start();
    watcher->setFuture(promise->future());
    QThreadPool::globalInstance()->start([promise, work = std::move(work)]() mutable {
        promise->addResult(work());
        promise->finish();
    });
}

} // namespace isocket::gui
