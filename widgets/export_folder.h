// SPDX-License-Identifier: GPL-3.0-or-later
// Where export dialogs start: the folder of the last export of each kind, remembered across
// sessions (QSettings), the home folder at first (torch-free).
#pragma once

#include <QString>

namespace mola::widgets {

// `key` names the kind of export ("plotExportFolder", "reportFolder", ...).
QString exportFolder(const QString& key);
// Remembers the folder of `path`: the file's folder, or `path` itself when it is a folder.
void rememberExportFolder(const QString& key, const QString& path);

}  // namespace mola::widgets
