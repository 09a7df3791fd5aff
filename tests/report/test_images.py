import base64
import io

from PIL import Image

from vleval.report.images import read_thumbnails, thumbnail_uri


def test_thumbnails_are_small_jpegs_and_capped_in_number(tmp_path):
    from vleval.synthetic.benchmarks import make_benchmark_tsv

    tsv = make_benchmark_tsv("MMStar", tmp_path, n=6)
    thumbs = read_thumbnails(tsv, limit=4)
    assert len(thumbs) == 4
    for uri in thumbs.values():
        image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        assert image.format == "JPEG" and max(image.size) <= 160


def test_multi_image_rows_and_bad_images(tmp_path):
    from vleval.synthetic.benchmarks import make_benchmark_tsv

    tsv = make_benchmark_tsv("MMMU_DEV_VAL", tmp_path, n=6)  # some rows hold a list of images
    assert len(read_thumbnails(tsv, limit=10)) == 6
    assert thumbnail_uri("not base64 at all") == ""
    assert read_thumbnails(tmp_path / "missing.tsv", limit=3) == {}


def test_a_thumbnail_shows_the_image_the_loader_gives_the_row(tmp_path):
    """One rule for image cells: a row naming another row's index (every fifth synthetic row) and a
    multi-image row get the thumbnail of the first image the benchmark loader decodes for them."""
    from vleval.datasets.loading import read_table
    from vleval.datasets.registry import get_benchmark
    from vleval.synthetic.benchmarks import make_benchmark_tsv

    for name in ("MMStar", "MMMU_DEV_VAL"):
        tsv = make_benchmark_tsv(name, tmp_path, n=11)
        table = read_table(tsv, get_benchmark(name))
        thumbs = read_thumbnails(tsv, limit=20)
        assert len(thumbs) == len(table)
        for index, image in zip(table["index"], table["image"], strict=True):
            first = image[0] if isinstance(image, list) else image
            assert thumbs[str(index)] == thumbnail_uri(first), (name, index)
