#include "core/committer.h"

#include <atomic>
#include <cerrno>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include <QMetaObject>
#include <QPointer>
#include <QSemaphore>
#include <QThread>

#include "core/logging.h"

namespace isocket {

namespace {

// Concurrent fsyncs per batch. Beyond ~16 the merged flushes gain nothing on the disks
// measured (bench/, issue 6); each costs an idle thread for the pool's expiry time.
constexpr int MaxParallelSyncs = 16;

} // namespace

void Committer::ThreadStopper::operator()(QThread *thread) const
{
    {
        std::lock_guard lock(committer->m_mutex);
        committer->m_stop = true;
    }
    committer->m_wake.notify_all();
    thread->wait();
    delete thread;
}

Committer::Committer(QObject *parent)
    : QObject(parent), m_thread(QThread::create([this] { run(); }), ThreadStopper{this})
{
    m_syncPool.setMaxThreadCount(MaxParallelSyncs);
    m_syncPool.setObjectName(QStringLiteral("isocket-sync"));
    m_thread->setObjectName(QStringLiteral("isocket-committer"));
    m_thread->start();
}

Committer::~Committer()
{
    m_thread.reset(); // stop and join before the members the worker uses go away
}

quint64 Committer::submit(CommitJob job)
{
    quint64 token;
    {
        std::lock_guard lock(m_mutex);
        token = m_nextToken++;
        job.token = token;
        m_queue.push_back(std::move(job));
    }
    m_wake.notify_one();
    return token;
}

void Committer::run()
{
    for (;;) {
        std::deque<CommitJob> batch;
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [this] { return m_stop || !m_queue.empty(); });
            if (m_stop)
                return; // queued fds close with m_queue; no one is left to tell
            batch.swap(m_queue);
        }
        processBatch(batch);
    }
}

void Committer::processBatch(std::deque<CommitJob> &batch)
{
    std::vector<Outcome> outcomes;
    outcomes.reserve(batch.size());
    auto fail = [](int err, const QString &what, const QString &name) {
        return QStringLiteral("cannot %1 %2: %3").arg(what, name, osError(err));
    };
    auto codeOf = [](int err) {
        return err == ENOSPC || err == EDQUOT ? ErrorCode::DiskFull : ErrorCode::IoError;
    };

    struct DirKey
    {
        dev_t dev;
        ino_t ino;
        int fd;
    };
    std::vector<DirKey> dirs;
    std::vector<size_t> renamed; // indices into outcomes waiting for their directory's fsync
    std::vector<size_t> dirOf;

    const std::vector<int> syncErrors = syncAll(batch);
    for (size_t j = 0; j < batch.size(); ++j) {
        CommitJob &job = batch[j];
        Outcome outcome{job.token, ErrorCode::Ok, QString()};
        if (const int syncErr = syncErrors[j]) {
            outcome = {job.token, codeOf(syncErr), fail(syncErr, QStringLiteral("sync"), job.partName)};
        } else if (::renameat(job.dir->get(), nativePath(job.partName).constData(), job.dir->get(),
                              nativePath(job.finalName).constData()) != 0) {
            const int err = errno;
            outcome = {job.token, codeOf(err),
                       fail(err, QStringLiteral("rename to"), job.finalName)};
        } else {
            // Jobs usually share the store's cached fd of their directory: the same fd number
            // (alive, held by the batch) is the same directory without an fstat.
            const int dfd = job.dir->get();
            size_t index = dirs.size();
            for (size_t i = 0; i < dirs.size(); ++i) {
                if (dirs[i].fd == dfd) {
                    index = i;
                    break;
                }
            }
            struct stat st = {};
            if (index == dirs.size() && ::fstat(dfd, &st) == 0) {
                for (size_t i = 0; i < dirs.size(); ++i) {
                    if (dirs[i].dev == st.st_dev && dirs[i].ino == st.st_ino) {
                        index = i;
                        break;
                    }
                }
            }
            if (index == dirs.size())
                dirs.push_back({st.st_dev, st.st_ino, dfd});
            renamed.push_back(outcomes.size());
            dirOf.push_back(index);
        }
        outcomes.push_back(std::move(outcome));
    }

    std::vector<int> dirErrors(dirs.size(), 0);
    for (size_t i = 0; i < dirs.size(); ++i)
        if (::fsync(dirs[i].fd) != 0)
            dirErrors[i] = errno;
    for (size_t k = 0; k < renamed.size(); ++k) {
        if (const int err = dirErrors[dirOf[k]]) {
            Outcome &o = outcomes[renamed[k]];
            o.code = codeOf(err);
            o.message =
                QStringLiteral("cannot sync the directory of a stored file: %1").arg(osError(err));
        }
    }
    qCDebug(lcRecv) << "committed" << batch.size() << "files," << dirs.size() << "directories";
    batch.clear(); // close the fds before reporting
    deliver(outcomes);
}

std::vector<int> Committer::syncAll(const std::deque<CommitJob> &batch)
{
    std::vector<int> errors(batch.size(), 0);
    auto syncOne = [&](size_t j) {
        // fsync, not fdatasync: the mtime and the checksum xattr must survive a crash too, or
        // a re-send after a lost ack could not be recognised as "already stored".
        if (::fsync(batch[j].file.get()) != 0)
            errors[j] = errno;
    };
    const int workers = static_cast<int>(qMin<size_t>(batch.size(), MaxParallelSyncs));
    if (workers <= 1) {
        for (size_t j = 0; j < batch.size(); ++j)
            syncOne(j);
        return errors;
    }
    std::atomic<size_t> next{0};
    QSemaphore done;
    for (int w = 0; w < workers; ++w) {
        m_syncPool.start([&] {
            for (size_t j = next++; j < batch.size(); j = next++)
                syncOne(j);
            done.release();
        });
    }
    // Not QThreadPool::waitForDone(): in Qt 6 it also ends the pool's threads, so every batch
    // started up to MaxParallelSyncs new threads (about one clone per file with small files).
    done.acquire(workers);
    return errors;
}

void Committer::deliver(const std::vector<Outcome> &outcomes)
{
    QMetaObject::invokeMethod(
        this,
        [this, outcomes] {
            QPointer<Committer> self(this);
            for (const Outcome &o : outcomes) {
                emit committed(o.token, o.code, o.message);
                if (!self)
                    return;
            }
        },
        Qt::QueuedConnection);
}

} // namespace isocket
