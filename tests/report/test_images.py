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
