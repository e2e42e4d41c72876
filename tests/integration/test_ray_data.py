"""Ray Data on a local Ray instance (2 CPUs): read_images / read_binary_files → RayOCR →
write_json / write_parquet, the same results as the pipeline in this process."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="needs the ray extra")
pytest.importorskip("ray.data", reason="needs the ray extra")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    # the actors import the slimocr under test, not whichever copy is installed
    env = {"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env=env,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ray-images")
    for i in range(6):
        img = np.full((200, 560, 3), 255, dtype=np.uint8)
        cv2.putText(img, f"PAGE {i}", (30, 120), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 0, 0), 6)
        cv2.imwrite(str(root / f"p{i}.png"), img)
    (root / "broken.png").write_bytes(b"\x89PNG broken")
    return root


def _local(folder: Path) -> dict[str, list]:
    from slimocr.infer.pipeline import OCR

    ocr = OCR(threads=1)
    return {p.name: ocr(p).to_dict()["lines"] for p in sorted(folder.glob("p*.png"))}


def test_binary_files_through_ray_match_the_local_pipeline(local_ray, folder, tmp_path) -> None:
    from slimocr.runtime.ray_data import RayOCR

    ds = ray.data.read_binary_files(str(folder), include_paths=True)
    # two actors on half a CPU each: the read tasks keep a CPU slot (with whole CPUs the
    # actors would hold both and the reads would wait for ever)
    ds = ds.map_batches(
        RayOCR, fn_constructor_kwargs={"threads": 1}, concurrency=2, num_cpus=0.5, batch_size=2
    )
    ds = ds.materialize()  # one OCR pass for both writers
    ds.write_json(str(tmp_path / "out"))
    ds.write_parquet(str(tmp_path / "parquet"))
    import pyarrow.parquet as pq

    table = pq.read_table(str(tmp_path / "parquet"))
    assert table.num_rows == 7
    assert set(table.column_names) == {"source", "text", "n_lines", "result", "error"}
    rows = [
        json.loads(line)
        for f in sorted((tmp_path / "out").glob("*.json"))
        for line in f.read_text().splitlines()
    ]
    by_name = {Path(r["source"]).name: r for r in rows}
    assert sorted(by_name) == ["broken.png", *(f"p{i}.png" for i in range(6))]
    assert (
        "corrupt" in by_name["broken.png"]["error"]
        or "image data" in by_name["broken.png"]["error"]
    )
    expected = _local(folder)
    for name, lines in expected.items():
        row = by_name[name]
        assert row["error"] == ""
        assert json.loads(row["result"])["lines"] == lines
        assert row["n_lines"] == len(lines)


def test_decoded_images_through_ray_match_the_local_pipeline(local_ray, folder) -> None:
    from slimocr.runtime.ray_data import RayOCR

    paths = [str(p) for p in sorted(folder.glob("p*.png"))]
    ds = ray.data.read_images(paths, mode="RGB", include_paths=True)
    kwargs = RayOCR.checked_kwargs(threads=1)  # checked in the driver, the same run
    rows = ds.map_batches(
        RayOCR, fn_constructor_kwargs=kwargs, concurrency=1, num_cpus=1, batch_size=3
    ).take_all()
    # RGB arrays from Ray's reader, turned to BGR by RayOCR: the pipeline's own results
    got = {Path(r["source"]).name: json.loads(r["result"])["lines"] for r in rows}
    assert got == _local(folder)
    assert all(r["text"].replace(" ", "").startswith("PAGE") for r in rows)
