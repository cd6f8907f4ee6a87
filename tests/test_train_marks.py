"""scripts/train_marks.py: one run's marks are the models that train_gen makes with as many steps."""
import importlib.util
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from genaug import config as gcfg
from genaug import generators as gens
from genaug import stages

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_marks.py"


@pytest.fixture
def script():
    spec = importlib.util.spec_from_file_location("train_marks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def results(tmp_path, digits_cache, quiet):
    shutil.copy(digits_cache, tmp_path / "dataset.npz")
    stages.subset(data=tmp_path / "dataset.npz", regime="balanced", size="n100", seed=1,
                  out=tmp_path / "subsets/balanced/n100/s1.npz", log=quiet)
    return tmp_path


@pytest.mark.parametrize("entry", [
    {"family": "cvae", "hidden": [32, 16], "latent_dim": 4, "prior": "gmm", "batch_size": 16, "lr": 1e-3},
    {"family": "cgan", "arch": "dcgan_late", "loss": "vanilla", "r1": 0.2, "reg_every": 4, "batch_size": 16,
     "lr": 2e-4},  # an EMA generator, a lazy penalty every 4 steps
], ids=["cvae", "cgan"])
def test_each_mark_is_the_model_train_gen_makes_with_that_many_steps(script, results, tmp_path, quiet, capsys,
                                                                      entry):
    assert script.main([str(results), "balanced/n100/s1", "tiny", "--marks", "120,60", "--entry",
                        yaml.safe_dump(entry, default_flow_style=True), "--effort", "quick", "--device", "cpu",
                        "--config-out", str(tmp_path / "marks.yaml")]) == 0
    config = yaml.safe_load((tmp_path / "marks.yaml").read_text())
    assert capsys.readouterr().out == (tmp_path / "marks.yaml").read_text()
    assert list(config["models"]) == ["tiny_m60", "tiny_m120"]
    for step in (60, 120):
        name = f"tiny_m{step}"
        spec = gcfg.generator_spec({"effort": "quick", **config}, name)
        assert spec["train"]["steps"] == step
        ckpt = results / "generators" / name / "balanced/n100/s1/model.pt"
        marked, saved = gens.load(ckpt)
        assert saved["spec"] == spec and saved["meta"]["steps"] == step and saved["history"][-1]["step"] <= step
        assert (ckpt.parent / "loss.csv").read_text().startswith("step")
        stages.train_gen(data=results / "dataset.npz", subset=results / "subsets/balanced/n100/s1.npz", spec=spec,
                         seed=1, out=tmp_path / f"{name}.pt", loss_log=tmp_path / f"{name}.csv", device="cpu",
                         log=quiet)
        made, _ = gens.load(tmp_path / f"{name}.pt")
        for key, value in made.state_dict().items():  # the weights and the mixture prior fitted at the mark
            assert torch.equal(value, marked.state_dict()[key]), (step, key)
    first, last = (gens.load(results / "generators" / f"tiny_m{s}/balanced/n100/s1/model.pt")[0] for s in (60, 120))
    assert any(not torch.equal(v, last.state_dict()[k]) for k, v in first.state_dict().items())


def test_bad_cells_and_self_training_models_are_refused(script, results, capsys):
    assert script.main([str(results), "balanced/n999/s1", "cvae", "--marks", "100"]) == 2
    assert "n999" in capsys.readouterr().err
    assert script.main([str(results), "balanced/n100", "cvae", "--marks", "100"]) == 2
    assert "REGIME/SIZE/sSEED" in capsys.readouterr().err
    assert script.main([str(results), "balanced/n100/s1", "cvae", "--marks", "10,100"]) == 2
    assert "at least 50" in capsys.readouterr().err
    assert script.main([str(results), "balanced/n100/s1", "no_such_model", "--marks", "100"]) == 2
    assert "--entry" in capsys.readouterr().err
    assert script.main([str(results), "balanced/n100/s1", "vae", "--marks", "60", "--device", "cpu"]) == 2
    assert "trains itself" in capsys.readouterr().err


def test_a_deadline_keeps_the_step_reached_in_place_of_the_marks_left(script, results, tmp_path, capsys):
    entry = "{family: cvae, hidden: [32, 16], latent_dim: 4, batch_size: 16}"
    assert script.main([str(results), "balanced/n100/s1", "tiny", "--marks", "400,800", "--entry", entry,
                        "--device", "cpu", "--deadline", "0", "--config-out", str(tmp_path / "marks.yaml")]) == 0
    config = yaml.safe_load((tmp_path / "marks.yaml").read_text())
    assert list(config["models"]) == ["tiny_m50"]  # effort quick's least steps, then the deadline
    _, saved = gens.load(results / "generators/tiny_m50/balanced/n100/s1/model.pt")
    assert saved["spec"] == gcfg.generator_spec({"effort": "quick", **config}, "tiny_m50")
    assert not (results / "generators/tiny_m400").exists()
    before = (results / "generators/tiny_m50/balanced/n100/s1/model.pt").read_bytes()
    assert script.main([str(results), "balanced/n100/s1", "tiny", "--marks", "50", "--entry", entry]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (results / "generators/tiny_m50/balanced/n100/s1/model.pt").read_bytes() == before  # nothing lost
    assert script.main([str(results), "balanced/n100/s1", "tiny", "--marks", "50", "--entry", entry, "--device", "cpu",
                        "--overwrite"]) == 0
