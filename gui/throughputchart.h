#pragma once
// ThroughputChart: a small chart of bytes per second over the last minutes, painted with
// QPainter from a Throughput ring (not owned; it must outlive the chart). Repaints once a
// second, and only while visible (the timer stops on hide); fixed memory. GUI thread.

#include <QTimer>
#include <QWidget>

namespace isocket::gui {

class Throughput;

class ThroughputChart : public QWidget
{
    Q_OBJECT

public:
    explicit ThroughputChart(const Throughput *source, QWidget *parent = nullptr);

    void setSpanSeconds(int seconds); // how much history is drawn (≤ Throughput::Seconds)
    void setCaption(const QString &caption);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void refresh();

    const Throughput *m_source;
    QTimer m_timer;
    int m_span = 180;
    QString m_caption;
};

} // namespace isocket::gui
