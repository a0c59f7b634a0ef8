// SPDX-License-Identifier: GPL-3.0-or-later
#include "export_folder.h"

#include <QDir>
#include <QFileInfo>
#include <QSettings>

namespace mola::widgets {

QString exportFolder(const QString& key) {
  return QSettings().value(key, QDir::homePath()).toString();
}

void rememberExportFolder(const QString& key, const QString& path) {
  const QFileInfo info(path);
  QSettings().setValue(key, info.isDir() ? info.absoluteFilePath() : info.absolutePath());
}

}  // namespace mola::widgets
