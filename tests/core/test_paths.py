"""Where runs go: a new run folder's name is unique, says what and when, and is not created early."""

from __future__ import annotations

import os
import time

from latentlab.core.paths import new_run_dir

NOON = time.strptime("2024-03-05 12:34:56", "%Y-%m-%d %H:%M:%S")


def test_a_new_run_folder_is_named_after_the_dataset_and_the_time_and_not_created(tmp_path):
    run_dir = new_run_dir(tmp_path, "digits", now=NOON)
    assert run_dir == tmp_path / "digits-20240305-123456"
    assert not run_dir.exists() and list(tmp_path.iterdir()) == []


def test_a_new_run_folder_takes_the_first_free_counter_when_the_name_is_taken(tmp_path):
    (tmp_path / "mnist-20240305-123456").mkdir()
    assert new_run_dir(tmp_path, "mnist", now=NOON) == tmp_path / "mnist-20240305-123456-2"
    (tmp_path / "mnist-20240305-123456-2").write_text("a file holds the name too")
    os.symlink(tmp_path / "gone", tmp_path / "mnist-20240305-123456-3")  # and so does a dangling link
    assert new_run_dir(tmp_path, "mnist", now=NOON) == tmp_path / "mnist-20240305-123456-4"
    assert new_run_dir(tmp_path, "cifar10", now=NOON) == tmp_path / "cifar10-20240305-123456"


def test_a_new_run_folder_under_a_missing_root_is_its_first_name(tmp_path):
    assert new_run_dir(tmp_path / "runs", "digits", now=NOON) == tmp_path / "runs" / "digits-20240305-123456"
    assert not (tmp_path / "runs").exists()


def test_a_new_run_folder_is_stamped_with_the_current_time_by_default(tmp_path):
    before = time.strftime("%Y%m%d-%H%M%S")
    name = new_run_dir(tmp_path, "digits").name
    after = time.strftime("%Y%m%d-%H%M%S")
    assert name.startswith("digits-") and before <= name[len("digits-"):] <= after
