"""Data sources: IDX parsing, the search order, every source error, digits and folder datasets."""

import gzip
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from genaug import data
from genaug.data import check_idx, load_dataset, load_source, locate_torchvision_root, save_dataset
from genaug.errors import GenaugError

from .helpers import FMNIST_SYSTEM_DIR, fake_mnist_files, make_folder, write_idx


@pytest.fixture
def no_system_copy_no_download(monkeypatch):
    """Hide Debian's copy and make torchvision's download fail, as on a machine without them."""
    monkeypatch.setitem(data.TORCHVISION, "fashion_mnist", ("FashionMNIST", []))

    def refuse(*args, **kwargs):
        raise RuntimeError("network unreachable")

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", refuse)


# ------------------------------------------------------------------ IDX files


def test_check_idx_accepts_a_complete_file(tmp_path):
    write_idx(tmp_path / "x", np.zeros((3, 28, 28)))
    check_idx(tmp_path / "x", 3)


def test_check_idx_rejects_truncated_file_naming_it(tmp_path):
    write_idx(tmp_path / "x", np.zeros((3, 28, 28)))
    raw = (tmp_path / "x").read_bytes()
    (tmp_path / "x").write_bytes(raw[:-100])
    with pytest.raises(GenaugError, match=rf"{tmp_path / 'x'}.*header says \[3, 28, 28\].*delete"):
        check_idx(tmp_path / "x", 3)


def test_check_idx_rejects_bad_magic_and_wrong_rank(tmp_path):
    (tmp_path / "html").write_bytes(b"<html>not found</html>")
    with pytest.raises(GenaugError, match="not an IDX file"):
        check_idx(tmp_path / "html", 3)
    write_idx(tmp_path / "labels", np.zeros(5))
    with pytest.raises(GenaugError, match="with 3 dimensions"):
        check_idx(tmp_path / "labels", 3)


@pytest.mark.skipif(not FMNIST_SYSTEM_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_loads_from_the_debian_copy(tmp_path):
    ds = load_source("fashion_mnist", cache_dir=tmp_path)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (10000, 1, 28, 28)
    assert np.bincount(ds.train_y.numpy()).tolist() == [6000] * 10
    assert ds.classes[2] == "Pullover" and ds.classes[6] == "Shirt"
    assert (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").stat().st_size == 47040016


# ------------------------------------------------------------------ search order and errors


def test_data_dir_comes_first_and_accepts_gz_files(tmp_path, no_system_copy_no_download):
    fake_mnist_files(tmp_path / "mine", gz=True)
    ds = load_source("fashion_mnist", data_dir=tmp_path / "mine", cache_dir=tmp_path / "cache")
    assert len(ds.train_y) == 60 and len(ds.test_y) == 20
    assert (tmp_path / "cache" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()


def test_a_replaced_idx_file_is_extracted_again_and_changes_the_manifest(tmp_path, no_system_copy_no_download):
    """The extracted copy in the cache must not hide a replaced source file (nor may the manifest)."""
    from genaug import sources

    fake_mnist_files(tmp_path / "mine", gz=True)
    args = dict(data_dir=tmp_path / "mine", cache_dir=tmp_path / "cache")
    first = sources.manifest("fashion_mnist", **args)
    assert first["root"] == str((tmp_path / "mine").resolve()) and len(first["files"]) == 4
    assert load_source("fashion_mnist", **args).train_y[:3].tolist() == [0, 1, 2]
    assert sources.manifest("fashion_mnist", **args) == first  # extracting into the cache changes nothing
    write_idx(tmp_path / "mine" / "train-labels-idx1-ubyte.gz", (np.arange(60) + 3) % 10, gz=True)
    assert sources.manifest("fashion_mnist", **args) != first
    assert load_source("fashion_mnist", **args).train_y[:3].tolist() == [3, 4, 5]


def test_touched_or_copied_source_files_keep_the_manifests_date_and_changed_bytes_move_it(tmp_path, capsys):
    """A `cp` or `touch` of unchanged dataset files must not rerun a grid; one changed byte must."""
    from genaug import sources

    make_folder(tmp_path / "imgs", per_class=2)
    path, cache = tmp_path / "manifest.json", tmp_path / "dataset.npz"

    def track(root):
        sources.track_source(path, sources.manifest("folder", root), cache)
        return path.stat().st_mtime_ns, json.loads(path.read_text())

    _, first = track(tmp_path / "imgs")
    assert sorted(first["sha256"]) == sorted(e[0] for e in first["files"]) and len(first["files"]) == 6
    os.utime(path, ns=(10**18, 10**18))  # a fixed date to watch
    os.utime(tmp_path / "imgs" / "cat" / "0.png", ns=(2 * 10**18, 2 * 10**18))
    when, touched = track(tmp_path / "imgs")
    assert when == 10**18 and touched["files"] != first["files"] and touched["sha256"] == first["sha256"]
    assert "same content" in capsys.readouterr().err
    assert track(tmp_path / "imgs")[0] == 10**18  # and the next call has nothing to do

    shutil.copytree(tmp_path / "imgs", tmp_path / "copy", copy_function=shutil.copy)  # new dates, new folder
    when, copied = track(tmp_path / "copy")
    assert when == 10**18 and copied["root"] == str((tmp_path / "copy").resolve())

    png = tmp_path / "copy" / "owl" / "1.png"
    data = bytearray(png.read_bytes())
    data[-20] ^= 1  # one bit, same size
    png.write_bytes(bytes(data))
    when, changed = track(tmp_path / "copy")
    assert when != 10**18 and changed["sha256"]["owl/1.png"] != first["sha256"]["owl/1.png"]


def test_a_manifest_written_before_hashes_gets_them_without_a_new_date(tmp_path):
    from genaug import sources

    make_folder(tmp_path / "imgs", per_class=1)
    path = tmp_path / "manifest.json"
    sources.write_manifest(path, sources.manifest("folder", tmp_path / "imgs"))  # no sha256: an older genaug's
    os.utime(path, ns=(10**18, 10**18))
    sources.track_source(path, sources.manifest("folder", tmp_path / "imgs"), tmp_path / "dataset.npz")
    assert path.stat().st_mtime_ns == 10**18 and len(json.loads(path.read_text())["sha256"]) == 3


def test_mnist_loads_from_a_local_copy_of_its_idx_files(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", lambda *a, **k: pytest.fail("tried to download"))
    fake_mnist_files(tmp_path / "mine", gz=True)
    ds = load_source("mnist", data_dir=tmp_path / "mine", cache_dir=tmp_path / "cache")
    assert ds.name == "mnist" and ds.classes[0] == "0 - zero" and ds.num_classes == 10
    assert len(ds.train_y) == 60 and len(ds.test_y) == 20 and (tmp_path / "cache" / "MNIST" / "raw").is_dir()


def test_torchvision_layout_in_cache_dir_is_used(tmp_path, no_system_copy_no_download):
    fake_mnist_files(tmp_path / "cache" / "FashionMNIST" / "raw")
    root = locate_torchvision_root("fashion_mnist", None, tmp_path / "cache")
    assert root == tmp_path / "cache"


def test_missing_dataset_lists_every_place_and_remedy(tmp_path, no_system_copy_no_download):
    with pytest.raises(GenaugError) as err:
        load_source("fashion_mnist", data_dir=tmp_path / "nowhere", cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert "not found" in msg and str(tmp_path / "nowhere") in msg and "network unreachable" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "data_dir" in msg


def test_corrupt_gz_is_named(tmp_path, no_system_copy_no_download):
    fake_mnist_files(tmp_path / "mine", gz=True)
    (tmp_path / "mine" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(GenaugError, match="train-images-idx3-ubyte.gz: cannot read"):
        load_source("fashion_mnist", data_dir=tmp_path / "mine", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_truncated_extracted_file_is_named_with_the_fix(tmp_path, no_system_copy_no_download):
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    fake_mnist_files(raw)
    with open(raw / "train-images-idx3-ubyte", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(GenaugError, match="train-images-idx3-ubyte: IDX header says.*delete"):
        load_source("fashion_mnist", cache_dir=tmp_path / "cache")


def test_unknown_dataset():
    with pytest.raises(GenaugError, match="unknown dataset 'cifar'"):
        load_source("cifar")


# ------------------------------------------------------------------ digits and the cache


def test_digits_are_28x28_uint8_with_a_fixed_stratified_split(digits):
    assert digits.image_shape == (1, 28, 28) and digits.train_x.dtype == torch.uint8
    assert len(digits.train_y) + len(digits.test_y) == 1797
    assert digits.train_x.max() == 255
    assert np.bincount(digits.test_y.numpy()).min() >= 50
    again = load_source("digits")
    assert torch.equal(again.test_y, digits.test_y)


def test_cache_roundtrip(tmp_path, digits):
    save_dataset(digits, tmp_path / "d.npz")
    back = load_dataset(tmp_path / "d.npz")
    assert back.classes == digits.classes and torch.equal(back.train_x, digits.train_x)


def test_unreadable_cache_says_how_to_rebuild(tmp_path):
    (tmp_path / "d.npz").write_bytes(b"junk")
    with pytest.raises(GenaugError, match=r"snakemake \S*d.npz --force"):
        load_dataset(tmp_path / "d.npz")


# ------------------------------------------------------------------ folder datasets


def test_folder_dataset_grayscale_is_resized_and_split(tmp_path):
    make_folder(tmp_path / "imgs")
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=32, test_fraction=1 / 3)
    assert ds.classes == ["cat", "dog", "owl"]
    assert ds.train_x.shape == (12, 1, 32, 32) and ds.test_x.shape == (6, 1, 32, 32)
    assert np.bincount(ds.test_y.numpy()).tolist() == [2, 2, 2]


def test_folder_dataset_rgb_auto_and_train_test_subfolders(tmp_path):
    make_folder(tmp_path / "imgs" / "train", mode="RGB")
    make_folder(tmp_path / "imgs" / "test", mode="RGB", per_class=2)
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28)
    assert ds.train_x.shape == (18, 3, 28, 28) and ds.test_x.shape == (6, 3, 28, 28)


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_folder_fit_makes_a_non_square_image_square_as_asked_and_says_so(tmp_path, fit):
    """A 30x10 image of three bands (white, grey, black) at image_size 10: stretched keeps all three bands,
    cropped keeps the grey centre, padded keeps the bands between black borders above and below."""
    from PIL import Image

    bands = np.repeat(np.array([255, 128, 0], dtype=np.uint8), 10)[None].repeat(10, axis=0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(bands).save(tmp_path / "imgs" / c / f"{i}.png")
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=10, fit=fit, test_fraction=0.2)
    x = ds.train_x[0, 0].float()
    assert x.shape == (10, 10)
    if fit == "stretch":
        assert x[:, 0].min() > 240 and x[:, 4:6].sub(128).abs().max() < 20 and x[:, 9].max() < 15
    elif fit == "crop":
        assert x.sub(128).abs().max() < 1
    else:
        assert x[0].max() < 15 and x[9].max() < 15 and x[5, 0] > 240 and x[5, 9] < 15
    word = {"stretch": "stretched", "crop": "cropped", "pad": "padded"}[fit]
    assert [n for n in ds.notes if "not square" in n and word in n and n.startswith("10 images:")], ds.notes


def test_a_root_of_splits_without_test_is_refused_not_read_as_classes_and_a_third_split_is_noted(tmp_path):
    """ImageNet's train/ and val/ were read as a two-class dataset, 'train' against 'val'. The config check
    refuses it too, before any job."""
    from genaug.config import check
    from genaug.sources import folder_class_names

    make_folder(tmp_path / "imgs" / "train", per_class=4)
    make_folder(tmp_path / "imgs" / "val", per_class=2)
    with pytest.raises(GenaugError, match=r"imgs has train/, val/ but not both train/ and test/, so its splits "
                                          r"would be read as classes.*rename the held-out folder to test/"):
        load_source("folder", data_dir=tmp_path / "imgs", image_size=28)
    with pytest.raises(GenaugError, match="so its splits would be read as classes"):
        folder_class_names(tmp_path / "imgs")
    config = {"dataset": "folder", "data_dir": str(tmp_path / "imgs"), "seeds": [0], "validation_per_class": 1,
              "grid": {"regimes": ["balanced"], "sizes": [6], "models": ["baseline"], "classifiers": ["cnn"]}}
    with pytest.raises(GenaugError, match="so its splits would be read as classes"):
        check(config)
    make_folder(tmp_path / "imgs" / "test", per_class=2)
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28)
    assert ds.classes == ["cat", "dog", "owl"] and len(ds.train_y) == 12 and len(ds.test_y) == 6
    assert f"{tmp_path / 'imgs' / 'val'}: not read (genaug reads train/ and test/, and holds validation images out " \
           "of train/)" in ds.notes


def test_what_windows_macos_and_a_nas_leave_in_image_folders_is_skipped(tmp_path):
    """Thumbs.db and desktop.ini beside the images, a __MACOSX folder from unzipping a macOS archive, a Synology
    @eaDir: never data, so neither a class nor an image that stops the run."""
    from genaug.sources import manifest

    make_folder(tmp_path / "imgs", per_class=4)
    (tmp_path / "imgs" / "cat" / "Thumbs.db").write_bytes(b"\0" * 64)
    (tmp_path / "imgs" / "dog" / "desktop.ini").write_text("[.ShellClassInfo]")
    (tmp_path / "imgs" / "__MACOSX" / "cat").mkdir(parents=True)
    (tmp_path / "imgs" / "__MACOSX" / "cat" / "._0.png").write_bytes(b"\0" * 64)
    (tmp_path / "imgs" / "owl" / "@eaDir").mkdir()
    (tmp_path / "imgs" / "owl" / "@eaDir" / "0.png").write_bytes(b"\0" * 64)
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    assert ds.classes == ["cat", "dog", "owl"] and len(ds.train_y) + len(ds.test_y) == 12
    assert len(manifest("folder", tmp_path / "imgs")["files"]) == 12


def test_symlinked_folders_are_read_and_listed_and_a_link_back_up_is_not_followed(tmp_path):
    """A class folder linked in from elsewhere, and a link inside a class to more of its images: read by prepare,
    listed in the manifest (so their changes rerun the grid), and counted by the config check. A link to a folder
    above must not walk forever."""
    from genaug.sources import folder_train_counts, manifest

    make_folder(tmp_path / "elsewhere", per_class=4, classes=("owl", "extra"))
    make_folder(tmp_path / "imgs", per_class=4, classes=("cat", "dog"))
    (tmp_path / "imgs" / "owl").symlink_to(tmp_path / "elsewhere" / "owl")
    (tmp_path / "imgs" / "dog" / "more").symlink_to(tmp_path / "elsewhere" / "extra")
    (tmp_path / "imgs" / "cat" / "up").symlink_to(tmp_path / "imgs")
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    assert ds.classes == ["cat", "dog", "owl"]
    assert np.bincount(torch.cat([ds.train_y, ds.test_y]).numpy()).tolist() == [4, 8, 4]
    files = [e[0] for e in manifest("folder", tmp_path / "imgs")["files"]]
    assert len(files) == 16 and "owl/0.png" in files and "dog/more/3.png" in files
    assert folder_train_counts(tmp_path / "imgs", 1 / 4) == {"cat": 3, "dog": 6, "owl": 3}


def test_an_unreadable_folder_is_named_not_skipped(tmp_path, monkeypatch):
    """A subfolder the user cannot list (another owner's, mode 700) would silently drop its images: name it."""
    import os

    from genaug.sources import manifest

    make_folder(tmp_path / "imgs", per_class=4)
    scandir = os.scandir

    def refuse_dog(path):
        if str(path).endswith("dog"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_dog)
    for read in (lambda: manifest("folder", tmp_path / "imgs"),
                 lambda: load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)):
        with pytest.raises(GenaugError, match=r"imgs/dog: cannot list this folder \(Permission denied\); make it "
                                              r"readable, or move it out of the dataset"):
            read()


def test_a_class_folder_named_in_another_encoding_is_refused_naming_it(tmp_path):
    """A Latin-1 `caf\xe9` from an old zip: as a class name it cannot be written into the report or summary.csv,
    so the run stops before any job, showing the name's bytes and how to rename it. Image file names may be."""
    from genaug.config import check

    make_folder(tmp_path / "imgs", per_class=4, classes=("cat", "dog"))
    os.rename(tmp_path / "imgs" / "dog" / "0.png", os.fsencode(tmp_path / "imgs" / "dog") + b"/\xff.png")
    assert len(load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4).train_y) == 6
    os.rename(tmp_path / "imgs" / "cat", os.fsencode(tmp_path / "imgs") + b"/caf\xe9")
    config = {"dataset": "folder", "data_dir": str(tmp_path / "imgs"), "seeds": [0], "validation_per_class": 1,
              "grid": {"regimes": ["balanced"], "sizes": [2], "models": ["baseline"], "classifiers": ["cnn"]}}
    for read in (lambda: load_source("folder", data_dir=tmp_path / "imgs", image_size=28), lambda: check(config)):
        with pytest.raises(GenaugError, match=r"imgs/caf\\xe9: this folder's name is not UTF-8 text .*rename it"):
            read()


def test_a_photo_stored_on_its_side_is_turned_upright_as_its_exif_orientation_says(tmp_path):
    """Phones store many photos on their side with an EXIF orientation that every viewer applies; read as stored,
    a class of upright photos is a mix of turned ones."""
    make_folder(tmp_path / "imgs", per_class=4, size=(28, 28))
    stored = np.zeros((28, 28), np.uint8)
    stored[:, :9] = 255  # a white left third, as stored
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: the white third on top
    im.save(tmp_path / "imgs" / "cat" / "phone.jpg", exif=exif.tobytes(), quality=95)
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    x = torch.cat([ds.train_x, ds.test_x]).float()
    photo = x[(x[:, 0, :9] > 200).flatten(1).all(1) & (x[:, 0, 12:] < 50).flatten(1).all(1)]
    assert len(photo) == 1  # the top third white, the rest black
    assert "1 image: EXIF orientation applied (turned upright, as a viewer shows it)" in ds.notes


def test_reading_a_folder_reports_its_progress(tmp_path):
    """50,000 photos take minutes: the prepare log says how far it is and when it ends."""
    import io

    make_folder(tmp_path / "imgs", per_class=5)
    log = io.StringIO()
    load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 5, log=log)
    lines = log.getvalue().splitlines()
    assert lines[-1].startswith("image 15/15 read") and lines[-1].endswith("done")
    assert any(line.startswith("image 15/15 checked for colour") for line in lines)
    assert sum(" read " in line for line in lines) == 10  # a line at each tenth


def test_folder_dataset_rejects_a_non_image_file_by_name(tmp_path):
    make_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "dog" / "notes.txt").write_text("hello")
    with pytest.raises(GenaugError, match=r"dog/notes.txt: not an image file; move it out"):
        load_source("folder", data_dir=tmp_path / "imgs")


def test_an_image_too_large_for_pillow_is_named_not_a_traceback(tmp_path, monkeypatch):
    """Pillow refuses images past twice MAX_IMAGE_PIXELS (a decompression bomb) with an error of its own."""
    make_folder(tmp_path / "imgs", per_class=3)
    Image.fromarray(np.zeros((300, 300), np.uint8)).save(tmp_path / "imgs" / "cat" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000)  # 90,000 pixels: past twice the limit
    with pytest.raises(GenaugError, match=r"cat/huge.png: cannot be read as an image \(Image size"):
        load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 3)


def test_folder_dataset_rejects_a_corrupt_image_by_name(tmp_path):
    make_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "owl" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    with pytest.raises(GenaugError, match=r"owl/broken.png: cannot be read as an image"):
        load_source("folder", data_dir=tmp_path / "imgs")


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    """convert("L") clips a 16-bit PNG (most pixels at 255); genaug scales 0..65535 to 0..255 and says so."""
    make_folder(tmp_path / "imgs", per_class=3)
    ramp = (np.arange(28 * 28).reshape(28, 28) * 83).astype(np.uint16)  # 0..65,000
    Image.fromarray(ramp).save(tmp_path / "imgs" / "dog" / "deep.png")
    assert Image.open(tmp_path / "imgs" / "dog" / "deep.png").mode == "I;16"
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    x = torch.cat([ds.train_x, ds.test_x])
    deep = x[(x.flatten(1).float().std(1) > 0) & (x[:, 0, 0, 0] == 0) & (x[:, 0, -1, -1] > 200)]
    assert len(deep) == 1
    expected = np.round(ramp / 65535 * 255)
    assert np.abs(deep[0, 0].numpy().astype(int) - expected).max() <= 1
    assert (deep[0] == 255).float().mean() < 0.01
    assert "1 image: 16-bit image scaled to 8 bits" in ds.notes


def test_grey_palette_and_grey_alpha_images_count_as_grey_and_transparency_goes_black(tmp_path):
    make_folder(tmp_path / "imgs", per_class=3)
    grey = np.full((28, 28), 200, np.uint8)
    Image.fromarray(grey).convert("P").save(tmp_path / "imgs" / "cat" / "palette.png")
    la = np.stack([grey, np.where(np.arange(28) < 14, 0, 255).astype(np.uint8)[None].repeat(28, 0)], 2)
    Image.fromarray(la, "LA").save(tmp_path / "imgs" / "owl" / "alpha.png")
    opaque = np.stack([np.full((28, 28), 100, np.uint8), np.full((28, 28), 255, np.uint8)], 2)
    Image.fromarray(opaque, "LA").save(tmp_path / "imgs" / "dog" / "opaque.png")  # an alpha channel, all opaque
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    assert ds.image_shape == (1, 28, 28)
    grey_note = "channels auto: 1 (every image is grey; {} stored in a colour mode, with equal red, green and blue, " \
                "read as grey)"
    assert grey_note.format(1) in ds.notes  # the palette of greys
    x = torch.cat([ds.train_x, ds.test_x])
    assert (x == 200).flatten(1).all(1).sum() == 1  # the palette image, unchanged
    half = x[((x[:, 0, :, :14] == 0).flatten(1).all(1)) & ((x[:, 0, :, 14:] == 200).flatten(1).all(1))]
    assert len(half) == 1  # transparent half black, opaque half its grey
    assert (x == 100).flatten(1).all(1).sum() == 1  # the opaque one as it is, and not noted as transparent
    assert "1 image: transparent pixels composited onto black" in ds.notes


def test_grey_images_stored_in_colour_count_as_grey_and_a_faint_tint_does_not(tmp_path):
    """A grey scan saved as RGB, a grey JPEG saved in colour (a level or two of chroma noise), a CMYK file and an
    RGBA image whose only colour is under transparent pixels are grey; a real tint of 12 levels is colour."""
    make_folder(tmp_path / "imgs", per_class=3)
    ramp = np.linspace(0, 255, 28 * 28).reshape(28, 28).astype(np.uint8)
    rgb = np.repeat(ramp[..., None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "imgs" / "cat" / "scan.png")
    Image.fromarray(rgb).save(tmp_path / "imgs" / "cat" / "scan.jpg", quality=70)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "imgs" / "dog" / "print.jpg")
    hidden = np.dstack([rgb, np.full((28, 28), 255, np.uint8)])
    hidden[:4, :, 0], hidden[:4, :, 3] = 250, 0  # red, but fully transparent
    Image.fromarray(hidden, "RGBA").save(tmp_path / "imgs" / "owl" / "cut.png")
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    assert ds.image_shape == (1, 28, 28)
    assert any("every image is grey; 4 stored in a colour mode, with equal red, green and blue" in n for n in ds.notes)
    tint = rgb.copy()
    tint[..., 2] = np.clip(ramp.astype(int) + 12, 0, 255)
    Image.fromarray(tint).save(tmp_path / "imgs" / "owl" / "tint.png")
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    assert ds.image_shape == (3, 28, 28) and any("tint.png" in n for n in ds.notes)


def test_a_colour_palette_image_makes_the_dataset_colour(tmp_path):
    make_folder(tmp_path / "imgs", per_class=3)
    red = np.zeros((28, 28, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).convert("P").save(tmp_path / "imgs" / "dog" / "red.png")
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 4)
    assert ds.image_shape == (3, 28, 28)
    assert any(n.startswith("channels auto: 3 (colour), first colour image") and "red.png" in n for n in ds.notes)


def test_images_in_nested_subfolders_are_read_into_their_class_and_noted(tmp_path):
    make_folder(tmp_path / "imgs", per_class=4)
    make_folder(tmp_path / "extra", per_class=5, classes=("night",))
    shutil.move(tmp_path / "extra" / "night", tmp_path / "imgs" / "owl" / "night")
    (tmp_path / "imgs" / "owl" / ".cache").mkdir()
    (tmp_path / "imgs" / "owl" / ".cache" / "x.txt").write_text("hidden: skipped")
    ds = load_source("folder", data_dir=tmp_path / "imgs", image_size=28, test_fraction=1 / 3)
    counts = np.bincount(torch.cat([ds.train_y, ds.test_y]).numpy()).tolist()
    assert counts == [4, 4, 9]
    assert any("5 of 9 images read from nested subfolders into class 'owl'" in n for n in ds.notes)
    path = tmp_path / "d.npz"
    save_dataset(ds, path)
    assert load_dataset(path).notes == ds.notes


def test_out_of_range_float_image_is_refused_by_name(tmp_path):
    make_folder(tmp_path / "imgs", per_class=3)
    Image.fromarray(np.full((28, 28), 7.5, np.float32), "F").save(tmp_path / "imgs" / "cat" / "f.tiff")
    with pytest.raises(GenaugError, match=r"cat/f.tiff: floating-point image with values 7.5..7.5, outside 0..1"):
        load_source("folder", data_dir=tmp_path / "imgs")


def test_folder_dataset_needs_data_dir():
    with pytest.raises(GenaugError, match="needs data_dir"):
        load_source("folder")


def test_install_raw_leaves_no_partial_file_when_gunzip_fails(tmp_path):
    src = tmp_path / "train-images-idx3-ubyte.gz"
    src.write_bytes(gzip.compress(b"x" * 100)[:-10])  # truncated stream
    with pytest.raises(GenaugError):
        data._install_raw({"train-images-idx3-ubyte": src}, tmp_path / "raw")
    assert list((tmp_path / "raw").iterdir()) == []
    shutil.rmtree(tmp_path / "raw")
