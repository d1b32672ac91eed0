// End to end on a real GlusterFS volume (issue 20): several receivers storing into one
// distributed filesystem, live senders that know every receiver, and faults on the way (a
// receiver killed with SIGKILL, then the other once the first is back; a brick process killed).
// Run through tests/e2e/gluster.sh, which makes the volume (one node, replica 2, two bricks),
// mounts it twice (two FUSE clients, as two receiver machines would) inside a network namespace
// of its own, and sets ISOCKET_GLUSTER_*; without them the tests skip and say how to run them.
//
// What a user relies on, checked at the end of every test: every file arrives byte-identical
// and is marked on its ED, every dbtag gets finished.watch and a complete manifest, and no
// temporary is visible on the volume.

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

using namespace isocket;
using namespace isocket::test;

namespace {

constexpr qint64 T0 = 1'600'000'000;

struct Volume
{
    QString a;      // the first mount point
    QString b;      // the second mount point: the same volume through another client
    QString name;   // the volume's name
    QString brick2; // the second brick's directory
};

std::optional<Volume> volume()
{
    const auto env = QProcessEnvironment::systemEnvironment();
    Volume v{env.value(QStringLiteral("ISOCKET_GLUSTER_A")),
             env.value(QStringLiteral("ISOCKET_GLUSTER_B")),
             env.value(QStringLiteral("ISOCKET_GLUSTER_VOLUME")),
             env.value(QStringLiteral("ISOCKET_GLUSTER_BRICK2"))};
    if (v.a.isEmpty() || v.b.isEmpty() || v.name.isEmpty())
        return std::nullopt;
    return v;
}

#define REQUIRE_VOLUME(v)                                                                        \
    const auto v = volume();                                                                     \
    if (!v)                                                                                      \
        QSKIP("no GlusterFS volume: run through tests/e2e/gluster.sh (ctest does)");

// Names on the volume that are temporaries of the receiver (partials), anywhere under `dir`.
QStringList temporariesUnder(const QString &dir)
{
    QStringList found;
    QDirIterator it(dir, QDir::Files | QDir::Hidden | QDir::System, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString name = it.next();
        if (name.contains(QLatin1String(".isocket-part")) ||
            name.contains(QLatin1String(".isocket-long-")))
            found << name;
    }
    return found;
}

// Writes the files of a producer over time: `perDbtag` files of `size` bytes into each dbtag in
// turn, one file every `intervalMs` into every ED, closing a dbtag (finished.parse) when the
// next one begins and the last one at the end. done() once all are written.
class Producer : public QObject
{
public:
    Producer(QStringList edRoots, QStringList dbtags, int perDbtag, qint64 size, int intervalMs)
        : m_eds(std::move(edRoots)), m_dbtags(std::move(dbtags)), m_perDbtag(perDbtag),
          m_size(size)
    {
        m_timer.setInterval(intervalMs);
        QObject::connect(&m_timer, &QTimer::timeout, this, [this] { step(); });
    }
    void start() { m_timer.start(); }
    bool done() const { return m_done; }
    bool ok() const { return m_ok; }
    int written() const { return m_next; }

private:
    void step()
    {
        const int total = m_perDbtag * int(m_dbtags.size());
        if (m_next >= total)
            return;
        const int d = m_next / m_perDbtag;
        const int i = m_next % m_perDbtag;
        for (int e = 0; e < m_eds.size(); ++e) {
            const QString dir = path(m_eds[e], m_dbtags[d]);
            m_ok = m_ok && writeFile(path(dir, QStringLiteral("f%1.dat").arg(i, 3, 10, QLatin1Char('0'))),
                                     patternBytes(m_size + i, quint32(e * 1000 + d * 100 + i)));
            if (i == m_perDbtag - 1)
                m_ok = m_ok && makeDbtag(m_eds[e], m_dbtags[d], true, false, T0 + d);
        }
        if (++m_next == total) {
            m_timer.stop();
            m_done = true;
        }
    }

    QStringList m_eds;
    QStringList m_dbtags;
    int m_perDbtag;
    qint64 m_size;
    QTimer m_timer;
    int m_next = 0;
    bool m_done = false;
    bool m_ok = true;
};

// The number of files stored at final names for `source` under `root`.
int storedCount(const QString &root, const QString &source)
{
    int n = 0;
    QDirIterator it(path(root, source), QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        n += it.fileName().endsWith(QLatin1String(".dat")) ? 1 : 0;
    }
    return n;
}

} // namespace

class TestE2eGluster : public QObject
{
    Q_OBJECT

private slots:
    void receiverSyncsEachFileThere();
    void twoReceiversOneVolumeWithFaults();
};

void TestE2eGluster::receiverSyncsEachFileThere()
{
    // syncfs does not reach the bricks on a FUSE mount: the receiver says it syncs each file.
    REQUIRE_VOLUME(v);
    const QString root = path(v->a, QStringLiteral("sync-check"));
    Process receiver(QStringLiteral("receiver"));
    QVERIFY(startReceiver(receiver, root) != 0);
    QVERIFY(receiver.waitForError(
        QStringLiteral("receive root on fuse.glusterfs: an fsync per file"), e2eTimeout(5000)));
}

void TestE2eGluster::twoReceiversOneVolumeWithFaults()
{
    REQUIRE_VOLUME(v);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString rxA = path(v->a, QStringLiteral("rx"));
    const QString rxB = path(v->b, QStringLiteral("rx")); // the same directory, other client
    const QStringList eds{path(tmp.path(), QStringLiteral("ed1")),
                          path(tmp.path(), QStringLiteral("ed2"))};
    const QStringList sources{QStringLiteral("ed1"), QStringLiteral("ed2")};
    QStringList dbtags;
    for (int d = 0; d < 4; ++d)
        dbtags << QStringLiteral("DC2026120610%1000").arg(d, 2, 10, QLatin1Char('0'));
    for (const QString &ed : eds)
        QVERIFY(QDir().mkpath(ed));

    const quint16 portA = freePort();
    const quint16 portB = freePort();
    auto receiverA = std::make_unique<Process>(QStringLiteral("receiver A"));
    auto receiverB = std::make_unique<Process>(QStringLiteral("receiver B"));
    QCOMPARE(startReceiver(*receiverA, rxA, portA), portA);
    QCOMPARE(startReceiver(*receiverB, rxB, portB), portB);

    // Both EDs know both receivers.
    const QString both = QStringLiteral("127.0.0.1:%1,127.0.0.1:%2").arg(portA).arg(portB);
    std::vector<std::unique_ptr<Process>> senders;
    for (int e = 0; e < eds.size(); ++e) {
        senders.push_back(std::make_unique<Process>(QStringLiteral("sender %1").arg(sources[e])));
        QStringList args = senderArgs(eds[e], portA, sources[e],
                                      {QStringLiteral("--jobs"), QStringLiteral("2")});
        const qsizetype to = args.indexOf(QStringLiteral("--to"));
        QVERIFY(to >= 0 && to + 1 < args.size());
        args[to + 1] = both;
        QVERIFY(senders.back()->startIsocket(args));
    }
    MarkGuard guard1(eds[0], rxA, sources[0]);
    MarkGuard guard2(eds[1], rxA, sources[1]);

    // Waits until both EDs' files stored on the volume reach `count`; fails at once when a
    // sender ended (it never should: they are daemons).
    const auto stored = [&] {
        return storedCount(rxA, sources[0]) + storedCount(rxA, sources[1]);
    };
    const auto sendersRun = [&] {
        for (const auto &s : senders)
            if (!s->isRunning())
                return false;
        return true;
    };
    const auto waitStored = [&](int count) {
        const bool ended =
            QTest::qWaitFor([&] { return stored() >= count || !sendersRun(); }, e2eTimeout(60000));
        return ended && sendersRun() && stored() >= count;
    };

    constexpr int PerDbtag = 30;
    Producer producer(eds, dbtags, PerDbtag, 96 * 1024, 40);
    producer.start();
    const int total = PerDbtag * int(dbtags.size());

    // Receiver A dies (SIGKILL) a quarter of the way; the EDs go on with B.
    QVERIFY(waitStored(total / 2));
    receiverA->kill();
    QVERIFY(waitStored(stored() + 20));
    // A comes back; then B dies, and comes back.
    receiverA = std::make_unique<Process>(QStringLiteral("receiver A (restarted)"));
    QCOMPARE(startReceiver(*receiverA, rxA, portA), portA);
    QVERIFY(waitStored(stored() + 10));
    receiverB->kill();
    QVERIFY(waitStored(stored() + 20));
    receiverB = std::make_unique<Process>(QStringLiteral("receiver B (restarted)"));
    QCOMPARE(startReceiver(*receiverB, rxB, portB), portB);

    // A brick dies mid-run (its process killed); replica 2 goes on with the other, and the
    // brick comes back (volume start force), as an administrator would bring it back.
    if (!v->brick2.isEmpty()) {
        Process pkill(QStringLiteral("pkill brick"));
        QVERIFY(pkill.start(QStringLiteral("pkill"),
                            {QStringLiteral("-KILL"), QStringLiteral("-f"),
                             QStringLiteral("glusterfsd.*%1").arg(v->brick2)}));
        QVERIFY(pkill.waitForExit(e2eTimeout(10000)));
        QCOMPARE(pkill.exitCode(), 0); // a process was killed
        QVERIFY(waitStored(qMin(stored() + 10, 2 * total)));
        Process restart(QStringLiteral("gluster volume start force"));
        QVERIFY(restart.start(QStringLiteral("gluster"),
                              {QStringLiteral("--mode=script"), QStringLiteral("volume"),
                               QStringLiteral("start"), v->name, QStringLiteral("force")}));
        QVERIFY(restart.waitForExit(e2eTimeout(30000)));
        QCOMPARE(restart.exitCode(), 0);
    }

    QTRY_VERIFY_WITH_TIMEOUT(producer.done(), e2eTimeout(120000));
    QVERIFY(producer.ok());
    for (int e = 0; e < eds.size(); ++e)
        for (const QString &dbtag : std::as_const(dbtags))
            QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(eds[e], dbtag, rxA, sources[e]), QString(),
                                      e2eTimeout(120000));
    // The other client sees the same.
    for (int e = 0; e < eds.size(); ++e)
        for (const QString &dbtag : std::as_const(dbtags))
            QCOMPARE(dbtagDelivered(eds[e], dbtag, rxB, sources[e]), QString());
    QCOMPARE(guard1.violation(), QString());
    QCOMPARE(guard2.violation(), QString());
    QCOMPARE(temporariesUnder(rxA), QStringList());
}

QTEST_GUILESS_MAIN(TestE2eGluster)
#include "tst_e2e_gluster.moc"
