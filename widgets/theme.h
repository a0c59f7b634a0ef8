// SPDX-License-Identifier: GPL-3.0-or-later
// The workbench's light and dark themes: the window palette, and the colours plots take from it
// (background, ink for axes and text, grid), so that plots read well on both.
#pragma once

#include <QColor>
#include <QString>

class QCustomPlot;
class QLabel;

namespace mola::widgets {

// System follows the desktop's colour scheme (its palette, as the application started with it).
enum class Theme { System, Light, Dark };
QString themeName(Theme theme);  // "system", "light", "dark"
bool parseTheme(const QString& name, Theme* theme);

// Sets the application's palette (Fusion's light or a dark one; the desktop's for System) and
// restyles every plot of every window.
void applyTheme(Theme theme);
// Whether the current palette is dark (a dark window background).
bool isDarkTheme();

// Plot colours for the current palette.
QColor plotBackground();
QColor plotInk();      // titles, axis labels, marks drawn in "black" on a light plot
QColor plotSoftInk();  // tick labels, axis lines
QColor plotGrid();

// Colours the plot's background, axes, grid, titles and legend from the current palette.
void restylePlot(QCustomPlot* plot);
// Style sheets ("color: ...;") for outcome text, readable on the current palette.
QString successStyle();
QString warningStyle();
QString errorStyle();
// A label for secondary text (greyed, following the palette, light or dark).
void setDimText(QLabel* label);

}  // namespace mola::widgets
