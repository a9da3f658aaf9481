"""Data sets read from the real mirror: LFW pairs and folds, people, identity splits, AT&T faces."""

from __future__ import annotations

import numpy as np
import pytest

from facelib.recognition import datasets


def test_lfw_official_pairs_and_folds(asset_dir):
    root = asset_dir("lfw")
    pairs = datasets.lfw_pairs(root=root)
    assert len(pairs) == 6000
    assert np.bincount(pairs.fold).tolist() == [600] * 10
    for k in range(10):
        same = pairs.same[pairs.fold == k]
        assert same[:300].all() and not same[300:].any()      # 300 matched then 300 mismatched
    first = (root / "pairs.txt").read_text().splitlines()[1].split()   # e.g. "Abel_Pacheco 1 4"
    assert pairs.first[0] == datasets.lfw_image_path(first[0], int(first[1]), root)
    assert pairs.second[0] == datasets.lfw_image_path(first[0], int(first[2]), root)
    assert all(p.is_file() for p in pairs.first[::50]) and all(p.is_file() for p in pairs.second[::50])
    images = set(pairs.first.tolist()) | set(pairs.second.tolist())
    assert len(images) == 7701   # the count MANIFEST.md and the LFW readme give


@pytest.mark.parametrize("subset, n", [("train", 2200), ("test", 1000)])
def test_lfw_dev_pairs(asset_dir, subset, n):
    pairs = datasets.lfw_pairs(subset, root=asset_dir("lfw"))
    assert len(pairs) == n and pairs.same.sum() == n // 2 and set(pairs.fold.tolist()) == {0}


def test_lfw_people_and_image_loading(asset_dir):
    people = datasets.lfw_people(min_images=70, root=asset_dir("lfw"))
    assert len(people.names) == 7 and len(people) == 1288     # as in scikit-learn's documentation
    assert "George_W_Bush" in people.names
    images = datasets.load_images(people.items[:3], size=(125, 125))
    assert images.shape == (3, 125, 125, 3) and images.dtype == np.uint8
    assert datasets.load_images(people.items[:2], mode="L").shape == (2, 250, 250)


def test_att_faces(asset_dir):
    att = datasets.att_faces(root=asset_dir("att_faces"))
    assert att.items.shape == (400, 112, 92) and att.items.dtype == np.uint8
    assert att.names[0] == "s1" and np.bincount(att.labels).tolist() == [10] * 40
    small = datasets.att_faces(size=(56, 46), root=asset_dir("att_faces"))
    assert small.items.shape == (400, 56, 46)
    assert abs(float(small.items.mean()) - float(att.items.mean())) < 2.0


def test_identity_split_is_disjoint_and_complete():
    labels = np.repeat(np.arange(40), 10)
    train, test = datasets.identity_split(labels, 10, seed=3)
    assert len(np.unique(labels[test])) == 10
    assert not set(labels[train].tolist()) & set(labels[test].tolist())
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(400))
    assert len(datasets.identity_split(labels, 0.25)[1]) == 100
    with pytest.raises(ValueError, match="test_people"):
        datasets.identity_split(labels, 40)


def test_bad_arguments():
    with pytest.raises(ValueError, match="subset"):
        datasets.lfw_pairs("validation")
    with pytest.raises(ValueError, match="min_images"):
        datasets.lfw_people(0)
    with pytest.raises(ValueError, match="different sizes"):
        datasets.load_images([np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)], mode="L")
