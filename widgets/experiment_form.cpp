// SPDX-License-Identifier: GPL-3.0-or-later
// ExperimentForm layout, the form <-> ExperimentConfig mapping, and loading and saving files.
#include "experiment_form.h"

#include "model/model_probe.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QSplitter>
#include <QUndoStack>
#include <QVBoxLayout>
#include <algorithm>
#include <charconv>
#include <climits>
#include <set>
#include <stdexcept>

#include "adapters/allocation.h"
#include "allocation_designer.h"
#include "data/prompt_template.h"
#include "data_source_editor.h"
#include "form_fields.h"
#include "task_list_editor.h"
#include "theme.h"

namespace mola::widgets {

using namespace form_fields;

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

}  // namespace

ExperimentForm::ExperimentForm(QWidget* parent) : QWidget(parent) {
  buildUi();
  setConfig(ExperimentConfig{});
}

// The last path probed, with the file's size and time: the form asks on every edit, and a GGUF
// file's header holds its whole vocabulary.
const ExperimentForm::ModelProbe& ExperimentForm::probeModel(const QString& path) {
  static QString last_path;
  static QDateTime last_time;
  static qint64 last_size = -1;
  static ModelProbe last;
  const QFileInfo info(path);
  const QDateTime time = info.exists() ? info.lastModified() : QDateTime();
  const qint64 size = info.exists() ? info.size() : -1;
  if (path == last_path && time == last_time && size == last_size && !last_path.isEmpty())
    return last;
  last_path = path;
  last_time = time;
  last_size = size;
  last = ModelProbe{};
  if (path.isEmpty()) {
    last.error =
        tr("empty: name a model (a Hugging Face directory, a GGUF or llama2.c file, or "
           "builtin:tiny)");
    return last;
  }
  try {
    const ModelShape shape = probeModelConfig(path.toStdString()).shape();
    if (shape.num_layers > 1024 || shape.d_model > (1 << 20))
      last.error = tr("%1: an implausible shape (%2 layers of width %3)")
                       .arg(path)
                       .arg(shape.num_layers)
                       .arg(shape.d_model);
    else
      last.shape = shape;
  } catch (const std::exception& e) {
    last.error = qs(e.what());
  }
  return last;
}

std::optional<ModelShape> ExperimentForm::shapeForModel(const QString& path) {
  return probeModel(path).shape;
}

void ExperimentForm::buildUi() {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(6, 6, 6, 6);
  m_error = new QLabel(this);
  m_error->setObjectName(QStringLiteral("error"));
  m_error->setStyleSheet(errorStyle());
  m_error->setWordWrap(true);
  m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_error->hide();
  outer->addWidget(m_error);

  auto* splitter = new QSplitter(Qt::Horizontal, this);
  outer->addWidget(splitter, 1);

  auto* scroll = new QScrollArea(splitter);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* page = new QWidget(scroll);
  auto* groups = new QVBoxLayout(page);
  groups->setContentsMargins(0, 0, 8, 0);
  scroll->setWidget(page);

  groups->addWidget(buildModelBox(page));
  groups->addWidget(buildAdapterBox(page));
  groups->addWidget(buildDataBox(page));
  groups->addWidget(buildTrainingBox(page));
  groups->addWidget(buildOptimizerBox(page));
  groups->addWidget(buildEvaluationBox(page));
  groups->addStretch(1);
  // The designer scrolls too: a small window shows part of it at its natural size rather than
  // squeezing its rows over each other.
  auto* designer_scroll = new QScrollArea(splitter);
  designer_scroll->setWidgetResizable(true);
  designer_scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  designer_scroll->setFrameShape(QFrame::NoFrame);
  auto* designer_box = new QGroupBox(tr("Adapter: experts per layer"), designer_scroll);
  auto* dl = new QVBoxLayout(designer_box);
  dl->setContentsMargins(4, 4, 4, 4);
  m_designer = new AllocationDesigner(designer_box);
  dl->addWidget(m_designer);
  designer_scroll->setWidget(designer_box);

  splitter->addWidget(scroll);
  splitter->addWidget(designer_scroll);
  splitter->setStretchFactor(0, 0);
  splitter->setStretchFactor(1, 1);
  // Neither side scrolls sideways: each is at least as wide as its page needs, and a narrow
  // window is as narrow as the two together.
  for (QScrollArea* area : {scroll, designer_scroll})
    area->setMinimumWidth(area->widget()->minimumSizeHint().width() +
                          area->verticalScrollBar()->sizeHint().width() + 2);
  splitter->setChildrenCollapsible(false);
  splitter->setSizes({480, 620});

  m_validation = new QLabel(this);
  m_validation->setObjectName(QStringLiteral("validation"));
  m_validation->setWordWrap(true);
  outer->addWidget(m_validation);

  connectEdits();
}

QGroupBox* ExperimentForm::buildModelBox(QWidget* page) {
  auto* model_box = new QGroupBox(tr("Model"), page);
  QFormLayout* mf = formIn(model_box);
  m_name = new QLineEdit(model_box);
  m_name->setToolTip(tr("The run's name in the run list"));
  mf->addRow(tr("&Name:"), m_name);
  m_model = new QLineEdit(model_box);
  m_model->setPlaceholderText(tr("HF directory, GGUF file, llama2.c .bin, or builtin:tiny"));
  m_model->setAccessibleName(tr("Model path"));
  m_model_browse = new QPushButton(tr("Browse..."), model_box);
  m_model_browse->setToolTip(
      tr("A Hugging Face model's config.json (its folder is used), a GGUF file (llama.cpp's "
         "format; quantised weights are dequantised) or a llama2.c .bin checkpoint"));
  m_builtin = new QComboBox(model_box);
  m_builtin->setAccessibleName(tr("Built-in models"));
  m_builtin->addItems({tr("Built-in..."), QStringLiteral("builtin:tiny-pretrained"),
                       QStringLiteral("builtin:tiny")});
  m_builtin->setItemData(1,
                         tr("The 4-layer byte-level LLaMA, pretrained on a synthetic corpus "
                            "(trained once, then cached)"),
                         Qt::ToolTipRole);
  m_builtin->setItemData(2, tr("The same model with random weights (from a seed)"),
                         Qt::ToolTipRole);
  auto* model_row = new QHBoxLayout;
  model_row->addWidget(m_model, 1);
  model_row->addWidget(m_model_browse);
  addRow(mf, tr("&Model:"), model_row, m_model);
  m_model_shape = new QLabel(model_box);
  setDimText(m_model_shape);
  m_model_shape->setWordWrap(true);
  auto* shape_row = new QHBoxLayout;
  shape_row->addWidget(m_builtin);
  shape_row->addWidget(m_model_shape, 1);
  mf->addRow(QString(), shape_row);
  m_tokenizer = new QLineEdit(model_box);
  m_tokenizer->setPlaceholderText(tr("the model's own"));
  m_tok_browse = new QPushButton(tr("Browse..."), model_box);
  auto* tok_row = new QHBoxLayout;
  tok_row->addWidget(m_tokenizer, 1);
  tok_row->addWidget(m_tok_browse);
  addRow(mf, tr("&Tokenizer:"), tok_row, m_tokenizer);
  m_device = choice(model_box, {"auto", "cpu", "cuda"});
  m_device->setToolTip(tr("auto: CUDA when there is a GPU, else CPU"));
  m_dtype = choice(model_box, {"fp32", "bf16", "fp16"});
  m_dtype->setToolTip(tr("Base weights and compute (fp16 needs a GPU)"));
  addRow(mf, tr("&Device:"), pairRow(m_device, tr("dtype"), m_dtype), m_device);
  return model_box;
}

// The allocation, rank, top-K and modules are in the designer.
QGroupBox* ExperimentForm::buildAdapterBox(QWidget* page) {
  auto* adapter_box = new QGroupBox(tr("Adapter"), page);
  QFormLayout* af = formIn(adapter_box);
  m_method = choice(adapter_box, {"mola", "lora", "full", "moelora"});
  m_method->setToolTip(
      tr("mola: experts per layer as designed, a router per token; lora: one expert, no "
         "router; full: train every weight (no adapter); moelora: MOELoRA, a gate that reads "
         "the task (dense over each layer's N experts of rank r / N)"));
  af->addRow(tr("M&ethod:"), m_method);
  m_alpha = numberEdit(adapter_box, tr("LoRA scaling: the update is multiplied by alpha / r"));
  m_dropout = numberEdit(adapter_box, tr("Dropout on the adapter's input, 0 to 1"));
  addRow(af, tr("&Alpha:"), pairRow(m_alpha, tr("dropout"), m_dropout), m_alpha);
  m_balance = numberEdit(adapter_box, tr("Weight of the load-balancing loss; 0 turns it off"));
  af->addRow(tr("&Balance coefficient:"), m_balance);
  m_task_dim = spin(adapter_box, 1, 1 << 16, tr("MOELoRA: width of the learned task embedding"));
  auto* task_row = new QHBoxLayout;
  task_row->addWidget(m_task_dim);
  task_row->addWidget(new QLabel(tr("wide (moelora)"), adapter_box));
  task_row->addStretch(1);
  addRow(af, tr("Tas&k embedding:"), task_row, m_task_dim);
  auto* adapter_note = new QLabel(
      tr("Experts per layer, rank, top-K and target modules: in the designer."), adapter_box);
  setDimText(adapter_note);
  adapter_note->setWordWrap(true);
  af->addRow(adapter_note);
  return adapter_box;
}

QGroupBox* ExperimentForm::buildDataBox(QWidget* page) {
  auto* data_box = new QGroupBox(tr("Data"), page);
  QFormLayout* df = formIn(data_box);
  m_data_form = df;
  m_train = new DataSourceEditor(tr("training data"), data_box);
  m_train->setObjectName(QStringLiteral("trainData"));
  df->addRow(tr("T&rain:"), m_train);
  m_eval = new DataSourceEditor(tr("evaluation data"), data_box);
  m_eval->setObjectName(QStringLiteral("evalData"));
  m_eval->pathEdit()->setPlaceholderText(tr("none: no evaluation"));
  df->addRow(tr("E&val:"), m_eval);
  m_task_editor = new TaskListEditor(data_box);
  m_task_editor->setObjectName(QStringLiteral("tasks"));
  // The first task takes over the single data set.
  m_task_editor->setFirstTask([this] {
    TaskSpec t;
    t.train = m_train->spec();
    t.eval = m_eval->spec();
    t.name = t.train.path.empty() ? "task 1" : dataSourceName(t.train);
    return t;
  });
  connect(m_task_editor, &TaskListEditor::changed, this, [this] {
    showTaskMode();
    onEdited();
  });
  df->addRow(tr("Tas&ks:"), m_task_editor);
  m_template = choice(data_box, PromptTemplate::names());
  m_template->setToolTip(
      tr("mola: MoLA's Alpaca-style prompt; compact: without the preamble, "
         "for byte-level models"));
  m_cutoff = spin(data_box, 8, 1 << 20, tr("Tokens per example; longer examples are cut"));
  auto* tpl_row = new QHBoxLayout;
  tpl_row->addWidget(m_template, 1);
  tpl_row->addSpacing(12);
  tpl_row->addWidget(new QLabel(tr("cutoff"), data_box));
  tpl_row->addWidget(m_cutoff);
  addRow(df, tr("&Prompt template:"), tpl_row, m_template);
  m_train_on_prompt = new QCheckBox(tr("Loss on the prompt tokens too (MoLA: yes)"), data_box);
  df->addRow(QString(), m_train_on_prompt);
  return data_box;
}

QGroupBox* ExperimentForm::buildTrainingBox(QWidget* page) {
  auto* train_box = new QGroupBox(tr("Training"), page);
  QFormLayout* tf = formIn(train_box);
  m_batch = spin(train_box, 1, 1 << 20, tr("Examples per batch"));
  m_accumulation = spin(train_box, 1, 1 << 20, tr("Batches per optimizer step"));
  addRow(tf, tr("Batch si&ze:"), pairRow(m_batch, tr("\u00d7 accumulation"), m_accumulation),
         m_batch);
  m_epochs = spin(train_box, 1, 1 << 20, tr("Passes over the training data"));
  m_max_steps = spin(train_box, 0, INT_MAX, tr("Optimizer steps; 0: derived from the epochs"),
                     tr("from epochs"));
  addRow(tf, tr("E&pochs:"), pairRow(m_epochs, tr("max steps"), m_max_steps), m_epochs);
  m_schedule = choice(train_box, {"linear", "cosine", "constant"});
  m_schedule->setToolTip(tr("Decay after the warmup"));
  m_warmup = spin(train_box, 0, INT_MAX, tr("Linear warmup, in optimizer steps"));
  addRow(tf, tr("&Schedule:"), pairRow(m_schedule, tr("warmup"), m_warmup), m_schedule);
  m_grad_clip = numberEdit(train_box, tr("Largest global gradient norm; 0: no clipping"));
  m_seed = new QLineEdit(train_box);
  m_seed->setMaximumWidth(180);
  m_seed->setToolTip(tr("Seeds initialisation, shuffling and dropout"));
  addRow(tf, tr("&Gradient clip:"), pairRow(m_grad_clip, tr("seed"), m_seed), m_grad_clip);
  m_activation_checkpointing = new QCheckBox(
      tr("Activation checkpointing (less memory, one more forward per step)"), train_box);
  m_activation_checkpointing->setToolTip(
      tr("Recompute each layer in the backward pass instead of keeping its activations"));
  tf->addRow(QString(), m_activation_checkpointing);
  m_group_by_length =
      new QCheckBox(tr("Group by length (batches of similar length: less padding)"), train_box);
  m_group_by_length->setToolTip(
      tr("Each batch takes examples of similar length from a shuffled window of 50 batches, so "
         "that little of it is padding and a step computes fewer tokens; batches are less mixed "
         "than a plain shuffle's"));
  tf->addRow(QString(), m_group_by_length);
  m_processes = spin(train_box, 1, 256,
                     tr("Data-parallel processes on this machine, each training its share of "
                        "every batch (Gloo on CPUs, NCCL with one GPU each); more than one is "
                        "trained by `mola train --nproc`, which the workbench starts and follows"));
  auto* processes_row = new QHBoxLayout;
  processes_row->addWidget(m_processes);
  processes_row->addWidget(new QLabel(tr("each on its share of every batch"), train_box));
  processes_row->addStretch(1);
  addRow(tf, tr("Pro&cesses:"), processes_row, m_processes);
  return train_box;
}

QGroupBox* ExperimentForm::buildOptimizerBox(QWidget* page) {
  auto* opt_box = new QGroupBox(tr("Optimizer"), page);
  QFormLayout* of = formIn(opt_box);
  m_optimizer = choice(opt_box, {"adamw", "sgd"});
  m_momentum = numberEdit(opt_box, tr("SGD momentum, 0 to 1"));
  addRow(of, tr("Opt&imizer:"), pairRow(m_optimizer, tr("momentum"), m_momentum), m_optimizer);
  m_lr = numberEdit(opt_box, tr("AdamW learning rate (MoLA: 3e-4)"));
  of->addRow(tr("&Learning rate:"), m_lr);
  m_beta1 = numberEdit(opt_box, tr("AdamW beta1"));
  m_beta2 = numberEdit(opt_box, tr("AdamW beta2"));
  auto* beta_row = new QHBoxLayout;
  beta_row->addWidget(m_beta1);
  beta_row->addWidget(m_beta2);
  beta_row->addStretch(1);
  addRow(of, tr("Be&tas:"), beta_row, m_beta1);
  m_weight_decay = numberEdit(opt_box, tr("Decoupled weight decay"));
  m_eps = numberEdit(opt_box, tr("AdamW epsilon"));
  addRow(of, tr("&Weight decay:"), pairRow(m_weight_decay, tr("eps"), m_eps), m_weight_decay);
  m_preconditioner = choice(opt_box, {"none", "riemannian"});
  m_preconditioner->setToolTip(
      tr("riemannian: each expert's A gradient times (B^T B + damping I)^-1 and its B gradient "
         "times (A A^T + damping I)^-1 before the step (Riemannian-preconditioned MoE-LoRA)"));
  m_damping = numberEdit(opt_box, tr("The damping of the r x r inverses, > 0"));
  addRow(of, tr("Precon&ditioner:"), pairRow(m_preconditioner, tr("damping"), m_damping),
         m_preconditioner);
  m_gate_rescaling =
      new QCheckBox(tr("Gate-aware rescaling (expert gradients through sqrt(g))"), opt_box);
  m_gate_rescaling->setToolTip(
      tr("With the riemannian preconditioner and method mola: each routed expert's gradient is "
         "weighted by the square root of its gate instead of the gate (Sun et al., ICML 2025)"));
  of->addRow(QString(), m_gate_rescaling);
  return opt_box;
}

// Evaluation, checkpoints, statistics.
QGroupBox* ExperimentForm::buildEvaluationBox(QWidget* page) {
  auto* eval_box = new QGroupBox(tr("Evaluation"), page);
  QFormLayout* ef = formIn(eval_box);
  m_protocol = choice(eval_box, {"likelihood", "generate"});
  m_protocol->setToolTip(
      tr("likelihood: the most likely option; generate: greedy decoding and "
         "'The answer is X', as MoLA's evaluation"));
  ef->addRow(tr("Pr&otocol:"), m_protocol);
  const QString end_only = tr("at the end");
  m_eval_interval = spin(eval_box, 0, INT_MAX, tr("Evaluate every N optimizer steps"), end_only);
  ef->addRow(tr("Evaluate every:"), m_eval_interval);
  m_checkpoint_interval =
      spin(eval_box, 0, INT_MAX, tr("Write a checkpoint every N optimizer steps"), end_only);
  m_keep_checkpoints = spin(eval_box, 0, INT_MAX,
                            tr("How many of the newest checkpoints stay on disk; older ones are "
                               "removed as new ones are written"),
                            tr("all"));
  addRow(ef, tr("Checkpoint every:"),
         pairRow(m_checkpoint_interval, tr("keep"), m_keep_checkpoints), m_checkpoint_interval);
  m_router_interval =
      spin(eval_box, 0, INT_MAX, tr("Record router load and entropy every N steps"), end_only);
  ef->addRow(tr("Router statistics every:"), m_router_interval);
  return eval_box;
}

void ExperimentForm::connectEdits() {
  // Every edit ends in onEdited (changed() and the validation line).
  for (QLineEdit* e : {m_name, m_model, m_tokenizer, m_alpha, m_dropout, m_balance, m_lr, m_beta1,
                       m_beta2, m_weight_decay, m_eps, m_grad_clip, m_seed, m_momentum, m_damping})
    connect(e, &QLineEdit::textEdited, this, &ExperimentForm::onEdited);
  for (QComboBox* c : {m_device, m_dtype, m_method, m_template, m_schedule, m_protocol, m_optimizer,
                       m_preconditioner})
    connect(c, &QComboBox::currentIndexChanged, this, &ExperimentForm::onEdited);
  for (QSpinBox* s :
       {m_cutoff, m_batch, m_accumulation, m_processes, m_epochs, m_max_steps, m_warmup,
        m_eval_interval, m_checkpoint_interval, m_keep_checkpoints, m_router_interval, m_task_dim})
    connect(s, &QSpinBox::valueChanged, this, &ExperimentForm::onEdited);
  for (QCheckBox* b :
       {m_train_on_prompt, m_activation_checkpointing, m_group_by_length, m_gate_rescaling})
    connect(b, &QCheckBox::toggled, this, &ExperimentForm::onEdited);
  for (QComboBox* c : {m_method, m_optimizer, m_preconditioner})
    connect(c, &QComboBox::currentIndexChanged, this, &ExperimentForm::onMethodChanged);
  connect(m_task_dim, &QSpinBox::valueChanged, this, &ExperimentForm::onMethodChanged);
  connect(m_train, &DataSourceEditor::changed, this, &ExperimentForm::onEdited);
  connect(m_eval, &DataSourceEditor::changed, this, &ExperimentForm::onEdited);
  connect(m_designer, &AllocationDesigner::allocationChanged, this, &ExperimentForm::onEdited);
  connect(m_designer, &AllocationDesigner::settingsChanged, this, &ExperimentForm::onEdited);
  connect(m_model, &QLineEdit::editingFinished, this, &ExperimentForm::onModelPathChanged);
  connect(m_builtin, &QComboBox::activated, this, [this](int index) {
    if (index <= 0) return;
    m_model->setText(m_builtin->itemText(index));
    m_builtin->setCurrentIndex(0);
    onModelPathChanged();
    onEdited();
  });
  connect(m_model_browse, &QPushButton::clicked, this, &ExperimentForm::browseModel);
  connect(m_tok_browse, &QPushButton::clicked, this, &ExperimentForm::browseTokenizer);
}

void ExperimentForm::setConfig(const ExperimentConfig& c) {
  m_updating = true;
  m_name->setText(qs(c.name));
  m_model->setText(qs(c.model));
  m_tokenizer->setText(qs(c.tokenizer));
  select(m_device, c.device);
  select(m_dtype, c.dtype);
  select(m_method, c.method);
  m_alpha->setText(shortest(c.alpha));
  m_dropout->setText(shortest(c.dropout));
  m_balance->setText(shortest(c.balance_coefficient));
  m_task_dim->setValue(c.task_embedding_dim);
  m_train->setSpec(c.train);
  m_eval->setSpec(c.eval);
  setTasks(c.tasks);
  select(m_template, c.prompt_template);
  m_cutoff->setValue(int(std::min<size_t>(c.cutoff, size_t(m_cutoff->maximum()))));
  m_train_on_prompt->setChecked(c.train_on_prompt);
  m_batch->setValue(c.batch_size);
  m_accumulation->setValue(c.grad_accumulation);
  m_processes->setValue(c.processes);
  m_epochs->setValue(c.epochs);
  m_max_steps->setValue(c.max_steps);
  m_lr->setText(shortest(c.lr));
  m_beta1->setText(shortest(c.beta1));
  m_beta2->setText(shortest(c.beta2));
  m_weight_decay->setText(shortest(c.weight_decay));
  m_eps->setText(shortest(c.adam_eps));
  select(m_optimizer, c.optimizer);
  m_momentum->setText(shortest(c.momentum));
  select(m_preconditioner, c.preconditioner);
  m_damping->setText(shortest(c.damping));
  m_gate_rescaling->setChecked(c.gate_rescaling);
  select(m_schedule, c.schedule);
  m_warmup->setValue(c.warmup_steps);
  m_grad_clip->setText(shortest(c.grad_clip));
  m_activation_checkpointing->setChecked(c.activation_checkpointing);
  m_group_by_length->setChecked(c.group_by_length);
  m_seed->setText(QString::number(qulonglong(c.seed)));
  select(m_protocol, c.eval_protocol);
  m_eval_interval->setValue(c.eval_interval);
  m_checkpoint_interval->setValue(c.checkpoint_interval);
  m_keep_checkpoints->setValue(c.keep_checkpoints);
  m_router_interval->setValue(c.router_stats_interval);

  const QString allocation_error = setDesignerFrom(c);
  m_allocation_spec = c.allocation;
  m_modules_spec = c.target_modules;
  m_updating = false;

  updateModelShapeLabel();
  onMethodChanged();
  onEdited();
  if (!allocation_error.isEmpty())
    m_validation->setText(tr("adapter.allocation: %1").arg(allocation_error));
}

// The designer: the model's shape when it can be told, and the allocation on that depth. A
// per-layer list of another length than the shape's sets the depth (the model is not known).
// Returns why the allocation could not be shown, or nothing.
QString ExperimentForm::setDesignerFrom(const ExperimentConfig& c) {
  ModelShape shape = shapeForModel(m_model->text()).value_or(m_designer->shape());
  std::optional<Allocation> allocation;
  QString allocation_error;
  try {
    allocation = Allocation::parse(c.allocation, shape.num_layers);
  } catch (const std::invalid_argument& e) {
    allocation_error = qs(e.what());
    const auto entries = std::count(c.allocation.begin(), c.allocation.end(), ',') + 1;
    if (entries > 1) {
      try {
        allocation = Allocation::parse(c.allocation, int(entries));
        shape.num_layers = int(entries);
        allocation_error.clear();
      } catch (const std::invalid_argument&) {
      }
    }
  }
  m_designer->setShape(shape);
  if (allocation) m_designer->setAllocation(*allocation);
  m_designer->undoStack()->clear();
  m_designer->setRank(c.rank);
  m_designer->setTopK(c.top_k);
  std::vector<TargetModule> modules;
  for (const std::string& name : c.target_modules) {
    try {
      modules.push_back(parseTargetModule(name));
    } catch (const std::invalid_argument&) {
    }
  }
  m_designer->setTargetModules(modules);
  return allocation_error;
}

ExperimentConfig ExperimentForm::config() const {
  ExperimentConfig c;
  c.name = m_name->text().toStdString();
  c.model = m_model->text().trimmed().toStdString();
  c.tokenizer = m_tokenizer->text().trimmed().toStdString();
  c.device = m_device->currentText().toStdString();
  c.dtype = m_dtype->currentText().toStdString();
  c.method = m_method->currentText().toStdString();

  const Allocation& shown = m_designer->allocation();
  c.allocation = shown.describe();
  try {
    // The spelling the configuration came with, while it still means what the designer shows.
    if (Allocation::parse(m_allocation_spec, shown.numLayers()) == shown)
      c.allocation = m_allocation_spec;
  } catch (const std::invalid_argument&) {
  }
  c.rank = m_designer->rank();
  c.alpha = parseNumber(m_alpha, "adapter.alpha");
  c.top_k = m_designer->topK();
  c.dropout = parseNumber(m_dropout, "adapter.dropout");
  c.target_modules = targetModuleNames();
  c.balance_coefficient = parseNumber(m_balance, "adapter.balance_coefficient");
  c.task_embedding_dim = m_task_dim->value();

  c.tasks = m_task_editor->tasks();
  if (c.tasks.empty()) {
    c.train = m_train->spec();
    c.eval = m_eval->spec();
  }
  c.prompt_template = m_template->currentText().toStdString();
  c.cutoff = size_t(m_cutoff->value());
  c.train_on_prompt = m_train_on_prompt->isChecked();

  readTraining(c);

  c.eval_protocol = m_protocol->currentText().toStdString();
  c.eval_interval = m_eval_interval->value();
  c.checkpoint_interval = m_checkpoint_interval->value();
  c.keep_checkpoints = m_keep_checkpoints->value();
  c.router_stats_interval = m_router_interval->value();
  validateExperiment(c);
  return c;
}

// The designer's target modules, in the spelling the configuration came with while it names the
// same modules.
std::vector<std::string> ExperimentForm::targetModuleNames() const {
  const std::vector<TargetModule> modules = m_designer->targetModules();
  std::set<TargetModule> chosen(modules.begin(), modules.end());
  std::set<TargetModule> given;
  bool given_ok = true;
  for (const std::string& name : m_modules_spec) {
    try {
      given.insert(parseTargetModule(name));
    } catch (const std::invalid_argument&) {
      given_ok = false;
    }
  }
  if (given_ok && given == chosen && given.size() == m_modules_spec.size()) return m_modules_spec;
  std::vector<std::string> names;
  for (TargetModule m : modules) names.emplace_back(targetModuleName(m));
  return names;
}

// The training keys (batch to seed) into `c`; a number that does not parse is named.
void ExperimentForm::readTraining(ExperimentConfig& c) const {
  c.batch_size = m_batch->value();
  c.grad_accumulation = m_accumulation->value();
  c.processes = m_processes->value();
  c.epochs = m_epochs->value();
  c.max_steps = m_max_steps->value();
  c.lr = parseNumber(m_lr, "training.optimizer.lr");
  c.beta1 = parseNumber(m_beta1, "training.optimizer.betas");
  c.beta2 = parseNumber(m_beta2, "training.optimizer.betas");
  c.weight_decay = parseNumber(m_weight_decay, "training.optimizer.weight_decay");
  c.adam_eps = parseNumber(m_eps, "training.optimizer.eps");
  c.optimizer = m_optimizer->currentText().toStdString();
  c.momentum = parseNumber(m_momentum, "training.optimizer.momentum");
  c.preconditioner = m_preconditioner->currentText().toStdString();
  c.damping = parseNumber(m_damping, "training.optimizer.damping");
  c.gate_rescaling = m_gate_rescaling->isChecked();
  c.schedule = m_schedule->currentText().toStdString();
  c.warmup_steps = m_warmup->value();
  c.grad_clip = parseNumber(m_grad_clip, "training.grad_clip");
  c.activation_checkpointing = m_activation_checkpointing->isChecked();
  c.group_by_length = m_group_by_length->isChecked();
  const std::string seed = m_seed->text().trimmed().toStdString();
  const auto [end, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), c.seed);
  if (seed.empty() || ec != std::errc() || end != seed.data() + seed.size())
    throw std::invalid_argument("training.seed: '" + seed +
                                "' is not a whole number from 0 to 18446744073709551615");
}

QString ExperimentForm::validationMessage() const {
  try {
    const ExperimentConfig c = config();
    // Saving needs no model here (it may live on another machine); running does.
    if (const QString problem = probeModel(qs(c.model)).error; !problem.isEmpty())
      return tr("model.path: %1").arg(problem);
    return {};
  } catch (const std::invalid_argument& e) {
    return qs(e.what());
  }
}

void ExperimentForm::onEdited() {
  if (m_updating) return;
  const QString message = validationMessage();
  if (message.isEmpty()) {
    m_validation->setText(tr("\u2714 Ready: the experiment is valid."));
    m_validation->setStyleSheet(successStyle());
  } else {
    m_validation->setText(message);
    m_validation->setStyleSheet(errorStyle());
  }
  emit changed();
}

void ExperimentForm::onModelPathChanged() {
  if (const auto shape = shapeForModel(m_model->text().trimmed())) m_designer->setShape(*shape);
  updateModelShapeLabel();
}

void ExperimentForm::updateModelShapeLabel() {
  const QString path = m_model->text().trimmed();
  const ModelShape& designed = m_designer->shape();
  if (const auto shape = shapeForModel(path)) {
    QString text = tr("%1 layers, width %2, %3 heads (%4 key/value), vocabulary %5")
                       .arg(shape->num_layers)
                       .arg(shape->d_model)
                       .arg(shape->num_heads)
                       .arg(shape->num_kv_heads)
                       .arg(shape->vocab_size);
    if (shape->num_layers != designed.num_layers)
      text += QStringLiteral("<br><span style='%1'>%2</span>")
                  .arg(errorStyle(), tr("the allocation has %1 layers, the model %2")
                                         .arg(designed.num_layers)
                                         .arg(shape->num_layers));
    m_model_shape->setText(text);
  } else if (path.isEmpty()) {
    m_model_shape->setText(QString());
  } else {
    m_model_shape->setText(QStringLiteral("<span style='%1'>%2</span>")
                               .arg(errorStyle(), probeModel(path).error.toHtmlEscaped()));
  }
  m_model_shape->setVisible(!m_model_shape->text().isEmpty());
}

void ExperimentForm::onMethodChanged() {
  const QString method = m_method->currentText();
  m_designer->setEnabled(method != QLatin1String("full"));
  const bool moelora = method == QLatin1String("moelora");
  m_designer->setAllocationEditable(method == QLatin1String("mola") || moelora);
  m_designer->setTaskGating(moelora ? std::max<int>(1, int(m_task_editor->tasks().size())) : 0,
                            m_task_dim->value());
  const bool adapter = method != QLatin1String("full");
  m_alpha->setEnabled(adapter);
  m_dropout->setEnabled(adapter);
  m_balance->setEnabled(method == QLatin1String("mola"));
  m_task_dim->setEnabled(moelora);
  const bool sgd = m_optimizer->currentText() == QLatin1String("sgd");
  m_momentum->setEnabled(sgd);
  for (QLineEdit* adam : {m_beta1, m_beta2, m_eps}) adam->setEnabled(!sgd);
  const bool riemannian = m_preconditioner->currentText() == QLatin1String("riemannian");
  m_damping->setEnabled(riemannian);
  m_gate_rescaling->setEnabled(riemannian && method == QLatin1String("mola"));
}

void ExperimentForm::setTasks(const std::vector<TaskSpec>& tasks) {
  m_task_editor->setTasks(tasks);
  showTaskMode();
}

void ExperimentForm::showTaskMode() {
  // Several tasks replace the single data set, whose rows leave the form meanwhile.
  const bool single = m_task_editor->tasks().empty();
  for (DataSourceEditor* e : {m_train, m_eval}) {
    e->setEnabled(single);
    m_data_form->setRowVisible(e, single);
  }
  onMethodChanged();  // the designer counts MOELoRA's task embedding
}

void ExperimentForm::showError(const QString& message) {
  m_error_text = message;
  m_error->setText(message);
  m_error->setVisible(!message.isEmpty());
}

bool ExperimentForm::loadFile(const QString& path) {
  ExperimentConfig loaded;
  try {
    loaded = loadExperiment(path.toStdString());
  } catch (const std::exception& e) {
    showError(tr("Could not load the experiment: %1").arg(qs(e.what())));
    return false;
  }
  setConfig(loaded);
  showError(QString());
  return true;
}

bool ExperimentForm::saveFile(const QString& path) {
  ExperimentConfig c;
  try {
    c = config();
  } catch (const std::exception& e) {
    showError(tr("Not saved to %1: %2").arg(path, qs(e.what())));
    return false;
  }
  QSaveFile file(path);
  const QByteArray text = QByteArray::fromStdString(experimentToJson(c));
  if (!file.open(QIODevice::WriteOnly) || file.write(text) != text.size() || !file.commit()) {
    showError(tr("Could not write %1: %2").arg(path, file.errorString()));
    return false;
  }
  showError(QString());
  return true;
}

void ExperimentForm::browseModel() {
  const QString file = QFileDialog::getOpenFileName(
      this, tr("Choose a model"), QFileInfo(m_model->text()).absolutePath(),
      tr("Models (config.json *.safetensors *.gguf *.bin);;All files (*)"));
  if (file.isEmpty()) return;
  const QFileInfo info(file);
  // A Hugging Face model is its folder; a GGUF or llama2.c checkpoint is the file itself.
  const bool hf = info.fileName() == QLatin1String("config.json") ||
                  info.suffix() == QLatin1String("safetensors") ||
                  info.suffix() == QLatin1String("json");
  m_model->setText(hf ? info.absolutePath() : info.absoluteFilePath());
  onModelPathChanged();
  onEdited();
}

void ExperimentForm::browseTokenizer() {
  const QString file = QFileDialog::getOpenFileName(
      this, tr("Choose a tokenizer"), QFileInfo(m_tokenizer->text()).absolutePath(),
      tr("Tokenizers (tokenizer.json tokenizer.model *.bin);;All files (*)"));
  if (file.isEmpty()) return;
  m_tokenizer->setText(file);
  onEdited();
}

}  // namespace mola::widgets
