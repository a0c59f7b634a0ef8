// SPDX-License-Identifier: GPL-3.0-or-later
// ExperimentForm: every key of an experiment file as a form, with the allocation designer for the
// adapter's experts, rank and top-K (torch-free).
#pragma once

#include <QString>
#include <QWidget>
#include <optional>
#include <string>
#include <vector>

#include "experiment/experiment_config.h"
#include "model/model_shape.h"

class QCheckBox;
class QComboBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QFormLayout;
class QPushButton;
class QSpinBox;

namespace mola::widgets {

class AllocationDesigner;
class DataSourceEditor;
class TaskListEditor;

class ExperimentForm : public QWidget {
  Q_OBJECT

 public:
  // Starts from ExperimentConfig{} (MoLA's defaults).
  explicit ExperimentForm(QWidget* parent = nullptr);

  // Shows `config`; the designer takes the model's shape when the model path tells it (a
  // built-in, a Hugging Face config.json, a llama2.c header), else keeps its current shape. The
  // designer's undo history starts afresh.
  void setConfig(const ExperimentConfig& config);
  // The form as a configuration. Throws std::invalid_argument naming the key: a field that is
  // not a number, or whatever validateExperiment rejects.
  ExperimentConfig config() const;

  // Loads with loadExperiment (relative paths resolved against the file's folder). On error the
  // form is unchanged, the message (naming the file) is shown, and false is returned.
  bool loadFile(const QString& path);
  // Writes experimentToJson(config()) atomically. On error nothing is written, the message is
  // shown, and false is returned.
  bool saveFile(const QString& path);
  // The last load or save error (empty after a success).
  QString errorMessage() const { return m_error_text; }
  // What config() currently says: empty when valid, else its error.
  QString validationMessage() const;

  AllocationDesigner* designer() const { return m_designer; }
  DataSourceEditor* trainData() const { return m_train; }
  DataSourceEditor* evalData() const { return m_eval; }
  TaskListEditor* taskEditor() const { return m_task_editor; }

  // The shape a model path implies, when it can be told without loading the model: builtin:tiny*,
  // a Hugging Face directory's config.json, or a llama2.c checkpoint's header.
  static std::optional<ModelShape> shapeForModel(const QString& path);
  // What the model path holds: its shape, or why it cannot be read (naming the path).
  struct ModelProbe {
    std::optional<ModelShape> shape;
    QString error;
  };
  static const ModelProbe& probeModel(const QString& path);

 signals:
  void changed();

 private:
  QString setDesignerFrom(const ExperimentConfig& c);
  std::vector<std::string> targetModuleNames() const;
  void readTraining(ExperimentConfig& c) const;
  void buildUi();
  QGroupBox* buildModelBox(QWidget* page);
  QGroupBox* buildAdapterBox(QWidget* page);
  QGroupBox* buildDataBox(QWidget* page);
  QGroupBox* buildTrainingBox(QWidget* page);
  QGroupBox* buildOptimizerBox(QWidget* page);
  QGroupBox* buildEvaluationBox(QWidget* page);
  void connectEdits();
  // A multi-task experiment's tasks into the task editor.
  void setTasks(const std::vector<TaskSpec>& tasks);
  // Train / Eval are live for a single data set only; the designer counts MOELoRA's tasks.
  void showTaskMode();
  void onEdited();
  void onModelPathChanged();
  void updateModelShapeLabel();
  void onMethodChanged();
  void showError(const QString& message);
  void browseModel();
  void browseTokenizer();

  AllocationDesigner* m_designer = nullptr;
  // The allocation and module list as the configuration spelled them: config() gives them back
  // unchanged while the designer still shows the same thing.
  std::string m_allocation_spec;
  std::vector<std::string> m_modules_spec;
  bool m_updating = false;
  QString m_error_text;

  QLabel* m_error = nullptr;
  QLabel* m_validation = nullptr;
  QLabel* m_model_shape = nullptr;

  QLineEdit* m_name = nullptr;
  QLineEdit* m_model = nullptr;
  QPushButton* m_model_browse = nullptr;
  QComboBox* m_builtin = nullptr;
  QLineEdit* m_tokenizer = nullptr;
  QPushButton* m_tok_browse = nullptr;
  QComboBox* m_device = nullptr;
  QComboBox* m_dtype = nullptr;

  QComboBox* m_method = nullptr;
  QLineEdit* m_alpha = nullptr;
  QLineEdit* m_dropout = nullptr;
  QLineEdit* m_balance = nullptr;
  QSpinBox* m_task_dim = nullptr;

  DataSourceEditor* m_train = nullptr;
  DataSourceEditor* m_eval = nullptr;
  TaskListEditor* m_task_editor = nullptr;
  QFormLayout* m_data_form = nullptr;
  QComboBox* m_template = nullptr;
  QSpinBox* m_cutoff = nullptr;
  QCheckBox* m_train_on_prompt = nullptr;
  QCheckBox* m_activation_checkpointing = nullptr;
  QCheckBox* m_group_by_length = nullptr;

  QSpinBox* m_batch = nullptr;
  QSpinBox* m_accumulation = nullptr;
  QSpinBox* m_processes = nullptr;
  QSpinBox* m_epochs = nullptr;
  QSpinBox* m_max_steps = nullptr;
  QLineEdit* m_lr = nullptr;
  QLineEdit* m_beta1 = nullptr;
  QLineEdit* m_beta2 = nullptr;
  QLineEdit* m_weight_decay = nullptr;
  QLineEdit* m_eps = nullptr;
  QComboBox* m_optimizer = nullptr;
  QLineEdit* m_momentum = nullptr;
  QComboBox* m_preconditioner = nullptr;
  QLineEdit* m_damping = nullptr;
  QCheckBox* m_gate_rescaling = nullptr;
  QComboBox* m_schedule = nullptr;
  QSpinBox* m_warmup = nullptr;
  QLineEdit* m_grad_clip = nullptr;
  QLineEdit* m_seed = nullptr;

  QComboBox* m_protocol = nullptr;
  QSpinBox* m_eval_interval = nullptr;
  QSpinBox* m_checkpoint_interval = nullptr;
  QSpinBox* m_keep_checkpoints = nullptr;
  QSpinBox* m_router_interval = nullptr;
};

}  // namespace mola::widgets
