import hashlib
import subprocess
import sys

import pytest

from conftest import SSV2_SAMPLE, need
from fsar_bench.cli import main


def run_cli(*args, env=None):
    code = "import sys; from fsar_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("args", [["--help"], ["ls", "methods"], ["ls", "datasets"]])
def test_help_and_ls_import_no_torch(args):
    code = (
        "import sys; from fsar_bench.cli import main; rc = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'; "
        "sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ls_lists_every_registry(capsys):
    for what, names in {
        "datasets": ["ucf101", "hmdb51", "ssv2-small", "ssv2-full", "kinetics-100", "synthetic"],
        "methods": ["protonet", "otam", "trn", "ta2n"],
        "backbones": ["resnet50", "efficientnet-lite0"],
        "protocols": ["otam", "ta2n", "ita"],
    }.items():
        assert main(["ls", what]) == 0
        out = capsys.readouterr().out
        assert all(n in out for n in names), (what, out)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["prepare", "--dataset", "ucf"], "unknown dataset 'ucf'. Did you mean ucf101?"),
        (["ls", "methds"], "cannot list 'methds'. Did you mean methods?"),
        (["episodes", "--dataset", "kinetcs", "--out", "x"], "Did you mean kinetics"),
    ],
)
def test_unknown_names_one_line_exit_2_no_traceback(args, needle):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_missing_data_root_is_explained(monkeypatch):
    env = {k: v for k, v in __import__("os").environ.items() if k != "FSAR_DATA_ROOT"}
    proc = run_cli("prepare", "--dataset", "hmdb51", env=env)
    assert proc.returncode == 2 and "--data-root" in proc.stderr


def test_prepare_and_episodes_on_the_real_ssv2_sample(tmp_path, capsys):
    root = str(need(SSV2_SAMPLE))
    common = ["--dataset", "ssv2", "--data-root", root, "--cache-dir", str(tmp_path)]
    assert main(["prepare", *common]) == 2  # missing videos with the default policy
    out = capsys.readouterr()
    assert "test   24       2857    50     2807" in out.out
    assert "--missing skip" in out.err
    assert main(["prepare", *common, "--missing", "skip"]) == 0
    capsys.readouterr()
    m1, m2 = tmp_path / "a.json", tmp_path / "b.json"
    args = ["episodes", *common, "--missing", "skip", "--episodes", "200", "--seed", "3"]
    assert main([*args, "--out", str(m1)]) == 0
    assert main([*args, "--out", str(m2)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == hashlib.sha256(m1.read_bytes()).hexdigest() == printed[2]
    assert m1.read_bytes() == m2.read_bytes()


def test_episodes_protocol_preset_sets_size_and_queries(tmp_path):
    import json

    root = str(need(SSV2_SAMPLE))
    out = tmp_path / "ita.json"
    args = ["episodes", "--dataset", "ssv2", "--data-root", root, "--cache-dir", str(tmp_path)]
    args += [
        "--missing",
        "skip",
        "--shot",
        "1",
        "--query",
        "5",
        "--protocol",
        "ita",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert len(data["episodes"]) == 6000  # 600 episodes x 10 repeats
    assert all(len(q) == 5 for ep in data["episodes"][:50] for q in ep["query"])  # explicit wins
