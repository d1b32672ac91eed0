#pragma once
// How states look: one place for the icon (a distinct shape per state), the text and the
// explanatory tooltip of dbtag, link and transfer states. Colour is only ever an extra: every
// state is told apart by its icon's shape and its words, so a colour-blind reader loses nothing.
// Icons are painted (no image files), at several sizes for high DPI. GUI thread only.

#include "core/health.h"
#include "core/scanner.h"
#include "core/senderconnection.h"

#include <QColor>
#include <QIcon>
#include <QString>

namespace isocket::gui {

enum class Badge { Live, Sending, Done, Abnormal, Failed, Connected, Waiting, Refused, Idle, Paused };

QIcon badgeIcon(Badge badge);
QColor badgeColor(Badge badge);   // a text colour readable on a light background
QColor badgeTint(Badge badge);    // a row background for states that must stand out, or invalid

struct DbtagLook
{
    Badge badge;
    QString text;
    QString tooltip;
};
// `closing`, `pending` and `failed` refine Closed: confirming, sending, or stuck on failed files.
DbtagLook dbtagLook(DbtagState state, bool closing, int pending, int failed);

// An overall verdict (core/health.h) as the headlines and the fleet tables show it: a shape per
// verdict (Ok: a check, Behind: an arrow, Degraded: a triangle, Failing: an octagon), its word
// ("OK", "Behind", "Degraded", "Failing") and what it means.
struct VerdictLook
{
    Badge badge;
    QString word;
    QString tooltip;
};
VerdictLook verdictLook(Verdict verdict);

// The application icon (the SVG from the resources, with a painted fallback).
QIcon appIcon();

} // namespace isocket::gui
