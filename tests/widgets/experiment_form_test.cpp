// SPDX-License-Identifier: GPL-3.0-or-later
// ExperimentForm: a configuration round-trips through the form and through a real file; bad
// files and bad fields are named and change nothing; data files show their format and size.
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>

#include "adapters/allocation.h"
#include "allocation_designer.h"
#include "data_source_editor.h"
#include "experiment/experiment_config.h"
#include "experiment_form.h"
#include "layer_diagram.h"
#include "preset_gallery.h"
#include "task_list_editor.h"

using mola::Allocation;
using mola::ExperimentConfig;
using mola::widgets::AllocationDesigner;
using mola::widgets::ExperimentForm;
using mola::widgets::TaskListEditor;

namespace {

// Every field away from its default, with values a spin box or a rounding would not keep.
ExperimentConfig nonDefault() {
  ExperimentConfig c;
  c.name = "ablation \u00e9 42";
  c.model = "builtin:tiny-pretrained";
  c.tokenizer = "/opt/models/tok512.bin";
  c.device = "cpu";
  c.dtype = "bf16";
  c.method = "mola";
  c.allocation = "2,3,4,5";  // the tiny model's 4 layers
  c.rank = 4;
  c.alpha = 8.5;
  c.top_k = 2;
  c.dropout = 0.1;
  c.target_modules = {"v_proj", "q_proj"};  // not in the canonical order
  c.balance_coefficient = 0.0125;
  c.train = {"synthetic:category:300:7", "", "", 100};
  c.eval = {"synthetic:opposite:50:3", "", "", 0};
  c.prompt_template = "compact";
  c.cutoff = 128;
  c.train_on_prompt = false;
  c.batch_size = 8;
  c.grad_accumulation = 2;
  c.epochs = 3;
  c.max_steps = 250;
  c.lr = 1.5e-3;
  c.beta1 = 0.85;
  c.beta2 = 0.98;
  c.weight_decay = 0.01;
  c.adam_eps = 1e-6;
  c.optimizer = "sgd";
  c.momentum = 0.7;
  c.preconditioner = "riemannian";
  c.damping = 3e-5;
  c.gate_rescaling = false;
  c.task_embedding_dim = 32;
  c.schedule = "cosine";
  c.warmup_steps = 25;
  c.grad_clip = 0.3;
  c.activation_checkpointing = true;
  c.group_by_length = true;
  c.seed = 12345678901234ull;  // beyond 32 bits
  c.eval_protocol = "generate";
  c.eval_interval = 50;
  c.checkpoint_interval = 100;
  c.keep_checkpoints = 3;
  c.router_stats_interval = 5;
  return c;
}

void writeFile(const QString& path, const QByteArray& text) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(text);
}

}  // namespace

class ExperimentFormTest : public QObject {
  Q_OBJECT

 private slots:
  void startsFromMolasDefaults() {
    ExperimentForm form;
    // The one key without a default.
    try {
      form.config();
      QFAIL("config() should need data.train.path");
    } catch (const std::invalid_argument& e) {
      QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("data.train.path")), e.what());
    }
    QVERIFY(form.validationMessage().contains(QStringLiteral("data.train.path")));
    form.trainData()->pathEdit()->setText(QStringLiteral("synthetic:largest"));
    ExperimentConfig expected;
    expected.train.path = "synthetic:largest";
    QVERIFY(form.config() == expected);
    QCOMPARE(form.designer()->rank(), 8);
    QCOMPARE(form.designer()->topK(), 2);
    QCOMPARE(form.designer()->shape().num_layers, 4);  // builtin:tiny
    QCOMPARE(form.designer()->allocation(), Allocation::preset("inverted-triangle", 4));
  }

  void nonDefaultConfigRoundTrips() {
    ExperimentForm form;
    QSignalSpy changed(&form, &ExperimentForm::changed);
    const ExperimentConfig x = nonDefault();
    form.setConfig(x);
    QCOMPARE(changed.count(), 1);
    const ExperimentConfig y = form.config();
    QCOMPARE(y.allocation, x.allocation);
    QCOMPARE(y.target_modules, x.target_modules);
    QCOMPARE(y.seed, x.seed);
    QCOMPARE(y.lr, x.lr);
    QCOMPARE(y.grad_clip, x.grad_clip);
    QCOMPARE(y.activation_checkpointing, true);
    QCOMPARE(y.group_by_length, true);
    QCOMPARE(experimentToJson(y), experimentToJson(x));
    QVERIFY(y == x);
    QCOMPARE(form.designer()->allocation().perLayer(), (std::vector<int>{2, 3, 4, 5}));
    QCOMPARE(form.designer()->rank(), 4);
    QCOMPARE(
        form.designer()->targetModules(),
        (std::vector<mola::TargetModule>{mola::TargetModule::QProj, mola::TargetModule::VProj}));

    // Other spellings of the allocation come back as written while they mean the same.
    ExperimentConfig g = x;
    g.allocation = "8-6-4-2";
    g.top_k = 1;
    g.method = "lora";
    form.setConfig(g);
    QVERIFY(form.config() == g);
    QVERIFY(!form.designer()->diagram()->isEnabled());  // lora: allocation unused
  }

  // A multi-task MOELoRA experiment: its tasks come back as given (the form shows them and
  // leaves Train and Eval, which it does not use, disabled).
  void multiTaskExperimentKeepsItsTasks() {
    ExperimentForm form;
    ExperimentConfig c = nonDefault();
    c.method = "moelora";
    c.allocation = "4";
    c.rank = 8;
    c.activation_checkpointing = false;
    c.train = {};
    c.eval = {};
    c.tasks = {
        {"arith", 0, {"synthetic:largest:40", "", "", 0}, {"synthetic:largest:8:2", "", "", 0}},
        {"words", 3, {"synthetic:opposite:40", "", "", 0}, {}}};
    form.setConfig(c);
    const ExperimentConfig y = form.config();
    QVERIFY(y == c);
    QVERIFY(!form.trainData()->isEnabled());
    TaskListEditor* tasks = form.taskEditor();
    QCOMPARE(tasks->list()->count(), 2);
    QCOMPARE(tasks->list()->item(1)->text(), QString("words (id 3)"));
    QCOMPARE(tasks->nameEdit()->text(), QString("arith"));
    tasks->selectTask(1);
    QCOMPARE(tasks->trainEditor()->pathEdit()->text(), QString("synthetic:opposite:40"));
    // The designer counts MOELoRA's budget: shared rank, the task embedding and gates.
    const mola::ModelShape shape = form.designer()->shape();
    QCOMPARE(form.designer()->trainableParameters().total(),
             mola::countMoeLoraParameters(Allocation::uniform(4, shape.num_layers), shape, 8,
                                          form.designer()->targetModules(), 2, 32)
                 .total());
    QVERIFY2(form.designer()->readoutText().contains(QStringLiteral("task gates")),
             qPrintable(form.designer()->readoutText()));
    QVERIFY(form.designer()->isValid());
    form.designer()->setRank(6);  // 6 cannot be shared among 4 experts
    QVERIFY(!form.designer()->isValid());
    QVERIFY(form.designer()->readoutText().contains(QStringLiteral("cannot be shared")));
    form.setConfig(c);
    // Back to a single-task experiment: the editors are live again.
    form.setConfig(nonDefault());
    QVERIFY(form.trainData()->isEnabled());
    QVERIFY(form.config() == nonDefault());
  }

  // Tasks are edited in the form: the first one added takes over Train and Eval, later ones
  // start empty with the next id; edits reach config(), and removing every task goes back to one
  // data set.
  void tasksAreEditedInTheForm() {
    ExperimentForm form;
    form.setConfig(nonDefault());
    const ExperimentConfig single = form.config();
    TaskListEditor* tasks = form.taskEditor();
    QCOMPARE(tasks->list()->count(), 0);
    QTest::mouseClick(tasks->addButton(), Qt::LeftButton);
    QVERIFY(!form.trainData()->isEnabled());
    ExperimentConfig c = form.config();
    QCOMPARE(c.tasks.size(), size_t(1));
    QVERIFY(c.tasks[0].train == single.train);
    QVERIFY(c.tasks[0].eval == single.eval);
    QCOMPARE(c.tasks[0].name, mola::dataSourceName(single.train));
    QVERIFY(c.train.path.empty());

    QTest::mouseClick(tasks->addButton(), Qt::LeftButton);
    QCOMPARE(tasks->currentTask(), 1);
    QTest::keyClicks(tasks->nameEdit(), "-words");
    tasks->trainEditor()->pathEdit()->setText("synthetic:opposite:30");
    emit tasks->trainEditor()->changed();
    c = form.config();
    QCOMPARE(c.tasks.size(), size_t(2));
    QCOMPARE(c.tasks[1].name, std::string("task 2-words"));
    QCOMPARE(c.tasks[1].id, 1);
    QCOMPARE(c.tasks[1].train.path, std::string("synthetic:opposite:30"));
    QCOMPARE(tasks->list()->item(1)->text(), QString("task 2-words (id 1)"));
    QVERIFY2(form.validationMessage().isEmpty(), qPrintable(form.validationMessage()));

    // Two tasks of one name: the form says so, naming the key.
    tasks->selectTask(1);
    tasks->nameEdit()->setText(QString::fromStdString(c.tasks[0].name));
    emit tasks->nameEdit()->textEdited(tasks->nameEdit()->text());
    QVERIFY2(form.validationMessage().contains(QStringLiteral("data.tasks")),
             qPrintable(form.validationMessage()));

    QTest::mouseClick(tasks->removeButton(), Qt::LeftButton);
    QTest::mouseClick(tasks->removeButton(), Qt::LeftButton);
    QCOMPARE(tasks->list()->count(), 0);
    QVERIFY(form.trainData()->isEnabled());
    QVERIFY(form.config() == single);
  }

  void designerEditsReachTheConfig() {
    ExperimentForm form;
    form.setConfig(nonDefault());
    QSignalSpy changed(&form, &ExperimentForm::changed);
    QTest::mouseClick(form.designer()->findChild<mola::widgets::PresetGallery*>()->button(
                          QStringLiteral("diamond")),
                      Qt::LeftButton);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(form.config().allocation, std::string("diamond"));
    form.designer()->setTopK(1);
    form.designer()->setAllocation(Allocation({3, 1, 4, 1}));
    QCOMPARE(form.config().allocation, std::string("3,1,4,1"));
    QCOMPARE(form.config().top_k, 1);
    form.designer()->setTopK(3);
    try {
      form.config();
      QFAIL("top-K 3 exceeds layer 2's single expert");
    } catch (const std::invalid_argument& e) {
      QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("adapter.top_k")), e.what());
    }
    auto* validation = form.findChild<QLabel*>(QStringLiteral("validation"));
    QVERIFY(validation->text().contains(QStringLiteral("adapter.top_k")));
  }

  void badFieldsNameTheirKey() {
    ExperimentForm form;
    form.setConfig(nonDefault());
    // The alpha, learning-rate and seed fields hold the values set above.
    std::vector<QLineEdit*> edits;
    for (QLineEdit* e : form.findChildren<QLineEdit*>()) {
      if (e->text() == QLatin1String("8.5") || e->text() == QLatin1String("0.0015") ||
          e->text() == QLatin1String("12345678901234"))
        edits.push_back(e);
    }
    QCOMPARE(edits.size(), size_t(3));
    for (QLineEdit* e : edits) {
      const QString keep = e->text();
      e->setText(QStringLiteral("abc"));
      try {
        form.config();
        QFAIL("a field that is not a number must be an error");
      } catch (const std::invalid_argument& err) {
        const QString message = QString::fromUtf8(err.what());
        QVERIFY2(message.contains(QStringLiteral("'abc'")), err.what());
        QVERIFY2(message.contains(QStringLiteral("adapter.alpha")) ||
                     message.contains(QStringLiteral("training.optimizer.lr")) ||
                     message.contains(QStringLiteral("training.seed")),
                 err.what());
      }
      e->setText(keep);
    }
    QVERIFY(form.config() == nonDefault());
  }

  void saveThenLoadRoundTrips() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("exp.json"));
    ExperimentConfig x = nonDefault();
    // A real benchmark file beside it (absolute, so loading resolves nothing).
    const QString data = dir.filePath(QStringLiteral("train.jsonl"));
    writeFile(
        data,
        "{\"query\": \"Which is a colour?\", \"choices\": [\"red\", \"dog\"], \"gold\": 0}\n"
        "{\"query\": \"Which is an animal?\", \"choices\": [\"red\", \"dog\"], \"gold\": 1}\n"
        "{\"query\": \"Which is a fruit?\", \"choices\": [\"pear\", \"saw\"], \"gold\": 0}\n");
    x.train = {data.toStdString(), "flat_jsonl", "", 0};
    ExperimentForm form;
    form.setConfig(x);
    QVERIFY2(form.saveFile(path), qPrintable(form.errorMessage()));
    QVERIFY(form.errorMessage().isEmpty());

    // The file itself, read by the core parser, not by the form.
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    // Target modules come back in the one canonical order (q, k, v, o, gate, up, down).
    ExperimentConfig canonical = x;
    canonical.target_modules = {"q_proj", "v_proj"};
    QVERIFY(mola::parseExperiment(f.readAll().toStdString(), "exp.json") == canonical);

    ExperimentForm other;
    QVERIFY2(other.loadFile(path), qPrintable(other.errorMessage()));
    QVERIFY(other.config() == canonical);
    QVERIFY2(other.trainData()->status().contains(QStringLiteral("flat_jsonl (as chosen): 3 "
                                                                 "records")),
             qPrintable(other.trainData()->status()));

    // An invalid form writes nothing.
    const QString second = dir.filePath(QStringLiteral("second.json"));
    other.trainData()->pathEdit()->clear();
    QVERIFY(!other.saveFile(second));
    QVERIFY(!QFile::exists(second));
    QVERIFY(other.errorMessage().contains(QStringLiteral("data.train.path")));
    QVERIFY(other.errorMessage().contains(second));
  }

  void malformedFilesAreNamedAndChangeNothing() {
    QTemporaryDir dir;
    ExperimentForm form;
    const ExperimentConfig x = nonDefault();
    form.setConfig(x);
    QSignalSpy changed(&form, &ExperimentForm::changed);
    auto* error = form.findChild<QLabel*>(QStringLiteral("error"));
    QVERIFY(error);

    const QString bad = dir.filePath(QStringLiteral("broken.json"));
    writeFile(bad, "{\n  \"name\": \"x\",,\n}\n");
    QVERIFY(!form.loadFile(bad));
    QVERIFY2(form.errorMessage().contains(bad), qPrintable(form.errorMessage()));
    QVERIFY(!error->isHidden());
    QCOMPARE(error->text(), form.errorMessage());
    QVERIFY(form.config() == x);
    QCOMPARE(changed.count(), 0);

    const QString typo = dir.filePath(QStringLiteral("typo.json"));
    writeFile(typo, "{\"adaptr\": {\"rank\": 4}, \"data\": {\"train\": {\"path\": \"x\"}}}");
    QVERIFY(!form.loadFile(typo));
    QVERIFY2(form.errorMessage().contains(typo), qPrintable(form.errorMessage()));
    QVERIFY2(form.errorMessage().contains(QStringLiteral("adapter")),
             qPrintable(form.errorMessage()));
    QVERIFY(form.config() == x);

    QVERIFY(!form.loadFile(dir.filePath(QStringLiteral("missing.json"))));
    QVERIFY(form.errorMessage().contains(QStringLiteral("missing.json")));
    QVERIFY(form.config() == x);
  }

  void dataFilesShowTheirFormatAndSize() {
    QTemporaryDir dir;
    ExperimentForm form;
    mola::widgets::DataSourceEditor* train = form.trainData();
    const QString good = dir.filePath(QStringLiteral("arc.jsonl"));
    writeFile(good,
              "{\"query\": \"2+2?\", \"choices\": [\"3\", \"4\", \"5\"], \"gold\": 1}\n"
              "{\"query\": \"3+3?\", \"choices\": [\"6\", \"7\"], \"gold\": 0}\n");
    train->setSpec({good.toStdString(), "", "", 0});
    QVERIFY2(train->status().contains(QStringLiteral("flat_jsonl (detected): 2 records")),
             qPrintable(train->status()));
    QVERIFY(!train->statusIsError());

    const QString garbage = dir.filePath(QStringLiteral("notes.txt"));
    writeFile(garbage, "these are not questions\n");
    train->setSpec({garbage.toStdString(), "", "", 0});
    QVERIFY(train->statusIsError());
    QVERIFY2(train->status().contains(QStringLiteral("notes.txt")), qPrintable(train->status()));

    train->setSpec({"synthetic:next_letter:40:3", "", "", 0});
    QVERIFY2(train->status().contains(QStringLiteral("40 records")), qPrintable(train->status()));
  }

  void theModelsShapeReachesTheDesigner() {
    QTemporaryDir dir;
    writeFile(dir.filePath(QStringLiteral("config.json")),
              "{\"architectures\": [\"LlamaForCausalLM\"], \"num_hidden_layers\": 6, "
              "\"hidden_size\": 256, \"intermediate_size\": 688, \"num_attention_heads\": 8, "
              "\"num_key_value_heads\": 4, \"vocab_size\": 1000}");
    const auto shape = ExperimentForm::shapeForModel(dir.path());
    QVERIFY(shape.has_value());
    QCOMPARE(shape->num_layers, 6);
    QCOMPARE(shape->head_dim, int64_t{32});
    QCOMPARE(shape->num_kv_heads, 4);

    ExperimentForm form;
    ExperimentConfig c = nonDefault();
    c.model = dir.path().toStdString();
    c.allocation = "inverted-triangle";
    form.setConfig(c);
    QCOMPARE(form.designer()->shape().num_layers, 6);
    QCOMPARE(form.designer()->allocation(), Allocation::preset("inverted-triangle", 6));
    QVERIFY(form.config() == c);

    // A per-layer list longer than the built-in model's depth keeps its own length, flagged.
    c.model = "builtin:tiny";
    c.allocation = "2,2,4,4,6,6,8,8";
    form.setConfig(c);
    QCOMPARE(form.designer()->shape().num_layers, 8);
    QVERIFY(form.config() == c);
  }

  void screenshot() {
    ExperimentForm form;
    ExperimentConfig c = nonDefault();
    c.name = "stories260k-inverted-triangle";
    c.allocation = "inverted-triangle";
    c.target_modules = ExperimentConfig{}.target_modules;
    c.rank = 8;
    form.setConfig(c);
    form.resize(1100, 700);
    form.show();
    QVERIFY(QTest::qWaitForWindowExposed(&form));
    QApplication::processEvents();
    QDir().mkpath(QStringLiteral(MOLA_SCREENSHOT_DIR));
    QVERIFY(form.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/experiment_form.png")));
    auto* scroll = form.findChild<QScrollArea*>();
    QVERIFY(scroll);
    // The lower groups (training, optimizer, evaluation), scrolled to.
    for (auto* area : form.findChildren<QScrollArea*>())
      area->verticalScrollBar()->setValue(area->verticalScrollBar()->maximum());
    QApplication::processEvents();
    QVERIFY(form.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/experiment_form_lower.png")));
    QVERIFY2(scroll->widget()->minimumSizeHint().width() <= scroll->viewport()->width(),
             qPrintable(QStringLiteral("the form needs %1 px, the window gives it %2")
                            .arg(scroll->widget()->minimumSizeHint().width())
                            .arg(scroll->viewport()->width())));

    // A two-task MOELoRA experiment: the task list and the selected task's data.
    c.method = "moelora";
    c.allocation = "4";
    c.tasks = {
        {"largest", 0, {"synthetic:largest:400", "", "", 0}, {"synthetic:largest:50:2", "", "", 0}},
        {"opposite", 1, {"synthetic:opposite:400", "", "", 0}, {}}};
    c.train = c.eval = {};
    form.setConfig(c);
    form.taskEditor()->selectTask(1);
    for (auto* area : form.findChildren<QScrollArea*>()) area->verticalScrollBar()->setValue(0);
    QApplication::processEvents();
    QVERIFY(form.grab().save(QStringLiteral(MOLA_SCREENSHOT_DIR "/experiment_form_tasks.png")));
    QVERIFY(form.config() == c);
  }
};

QTEST_MAIN(ExperimentFormTest)
#include "experiment_form_test.moc"
