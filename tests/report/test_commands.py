from vleval.cli import main


def test_report_command_prints_table_and_paths(work_dirs, tmp_path, capsys):
    out = tmp_path / "r" / "report.html"
    code = main(
        ["report", "--work-dir", str(work_dirs[0]), "--work-dir", str(work_dirs[1]), "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    # our score [its 95% interval] (4 MMStar rows, 2 MMMU validation rows, all right in the CoT run:
    # exact intervals of 3 of 4 and 2 of 2, never "100.00 ± 0.00")
    assert "75.00 [19.41, 99.37] / 62.8 (+12.20) !" in printed
    assert "100.00 [15.81, 100.00] / 56.0 (+44.00) !" in printed
    assert str(out) in printed and (out.parent / "summary.csv").is_file()


def test_report_default_output_is_inside_the_work_dir(work_dirs, capsys):
    assert main(["report", "--work-dir", str(work_dirs[0])]) == 0
    assert (work_dirs[0] / "report.html").is_file() and (work_dirs[0] / "summary.md").is_file()


def test_compare_command(work_dirs, capsys):
    assert main(["report", "--compare", str(work_dirs[0]), str(work_dirs[1])]) == 0
    assert (work_dirs[1] / "compare.html").is_file()


def test_empty_or_missing_work_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["report", "--work-dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", "--work-dir", str(tmp_path)]) == 2
    assert "no prediction files" in capsys.readouterr().err
    assert main(["report"]) == 2
