"""Publishing to and pulling from a Hub over HTTP on loopback (the server is ``tests/hub_server.py``).

The checkpoint is a real one: ``train_accelerate.py`` trains the tiny preset for 2 steps on the bundled AMZN
session and pushes it with ``--push-to-hub``. Pulls run the real ``transformers`` / ``datasets`` clients in
fresh subprocesses, because ``huggingface_hub`` reads ``HF_ENDPOINT`` at import; pushes that only test our
own checks run in this process with the endpoint patched.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from datasets import load_from_disk
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard
from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
from safetensors.torch import load_file, save_file

from data_prep.features import session_features, sessions, traded_volume
from data_prep.pipeline import prepare
from data_prep.sources import read_events
from modeling_tradefm import TradeFMForCausalLM
from publishing import PublishError, init_model_dir, model_card, push_to_hub, validate_checkpoint
from publishing.cli import init_main
from tokenization import TradeFMTokenizer

from .conftest import DATA, ROOT
from .hub_server import TEST_ORG, TEST_TOKEN, HubServer, hub_server  # noqa: F401 (hub_server is a fixture)

pytestmark = pytest.mark.slow  # a 2-step training run and Hub clients in fresh interpreters (~100 s in all)
BIN = Path(sys.executable).parent
AMZN = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"
REPO = f"{TEST_ORG}/tradefm-tiny"
WRONG_TOKEN = "hf_thisTokenIsNotKnown9876543210fedcba"


def client_env(url: str, home: Path, token: str | None = TEST_TOKEN, **extra) -> dict:
    """Environment of a Hub client subprocess: loopback endpoint, LFS (no Xet), private HF_HOME."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "HF_HOME": str(home / "hf"),
           "HF_ENDPOINT": url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "NO_PROXY": "127.0.0.1,localhost", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", **extra}
    if token:
        env["HF_TOKEN"] = token
    return env


def run(cmd: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def run_python(code: str, args: dict, env: dict, cwd: Path, isolated: bool = False) -> dict:
    """Run ``code`` (which reads ``ARGS`` and prints one JSON line last) in a fresh interpreter."""
    cmd = [sys.executable, *(["-S"] if isolated else []), "-c",
           "import json, sys\nARGS = json.loads(sys.argv[1])\n" + code, json.dumps(args)]
    result = run(cmd, env, cwd)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def use_hub_here(monkeypatch, url: str, tmp_path: Path, token: str | None = TEST_TOKEN):
    """Point this process's ``huggingface_hub`` at ``url`` (what HF_ENDPOINT etc. do at import time)."""
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", url)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    else:
        monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "prepared"
    prepare([AMZN], out, context_length=32)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prepared, hub_server):
    """``final/`` of a 2-step tiny run, pushed to ``REPO`` by ``train_accelerate.py --push-to-hub``."""
    out = tmp_path_factory.mktemp("run")
    cmd = [sys.executable, str(ROOT / "train_accelerate.py"), "--cpu", "--data", str(prepared), "--model-size",
           "tiny", "--max-steps", "2", "--batch-size", "4", "--warmup-steps", "1", "--eval-every", "1000",
           "--output-dir", str(out / "run"), "--push-to-hub", REPO]
    result = run(cmd, client_env(hub_server.url, out), out)
    assert result.returncode == 0, result.stderr[-4000:]
    return out / "run" / "final"


@pytest.fixture(scope="module")
def features():
    """Real model events of the AMZN session, with the columns ``encode_events`` reads."""
    events = sessions(read_events(AMZN))[0]
    return session_features(events, traded_volume(events))[0]


def copy_checkpoint(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------------------------------------- push → pull
@pytest.fixture(scope="module")
def released(hub_server, trained, prepared, tmp_path_factory):
    """``tradefm-push`` of the checkpoint and its dataset to the branch ``release``, private."""
    home = tmp_path_factory.mktemp("release")
    result = run([str(BIN / "tradefm-push"), str(trained), "--repo-id", REPO, "--dataset", str(prepared),
                  "--revision", "release", "--private", "--commit-message", "release 1"],
                 client_env(hub_server.url, home), home)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


PULL = r"""
import numpy as np, pyarrow.parquet as pq, torch
from datasets import load_dataset, load_from_disk
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
import modeling_tradefm, tokenization

lm = AutoModelForCausalLM.from_pretrained(ARGS["repo"])
base = AutoModel.from_pretrained(ARGS["repo"])
tok = AutoTokenizer.from_pretrained(ARGS["repo"])
local = load_file(ARGS["weights"])
state = lm.state_dict()
ref = tokenization.TradeFMTokenizer.from_pretrained(ARGS["local"])
events = pq.read_table(ARGS["features"])
ours, theirs = tok.encode_events(events), ref.encode_events(events)
text = " ".join(ref.convert_ids_to_tokens(ours["input_ids"][:50].tolist()))
pulled = load_dataset(ARGS["repo"], revision="release")
prepared = load_from_disk(ARGS["prepared"])
print(json.dumps({
    "classes": [type(lm).__name__, type(base).__name__, type(tok).__name__],
    "weights_identical": set(state) == set(local) and all(torch.equal(state[k], v) for k, v in local.items()),
    "ids_identical": bool(np.array_equal(ours["input_ids"], theirs["input_ids"])),
    "context_identical": bool(np.array_equal(ours["context_ids"], theirs["context_ids"])),
    "text_ids_identical": tok(text)["input_ids"] == ref(text)["input_ids"],
    "n_events": len(ours["input_ids"]),
    "splits": sorted(pulled),
    "rows_identical": {s: pulled[s].features == prepared[s].features and pulled[s].to_list() == prepared[s].to_list()
                       for s in prepared},
}))
"""


@pytest.fixture(scope="module")
def pulled(hub_server, trained, released, prepared, features, tmp_path_factory):
    """Model, tokenizer and dataset pulled by repo id in a fresh process; (its output, its environment)."""
    home = tmp_path_factory.mktemp("pull")
    pq.write_table(features, home / "features.parquet")
    args = {"repo": REPO, "weights": str(trained / "model.safetensors"), "local": str(trained),
            "features": str(home / "features.parquet"), "prepared": str(prepared)}
    return run_python(PULL, args, client_env(hub_server.url, home), home), (args, home)


def test_push_is_one_commit_of_identical_files(hub_server, trained):
    commits = hub_server.commits(REPO)
    assert [c.title for c in commits] == ["Upload TradeFM tiny (4,165,824 parameters)", "initial commit"]
    remote = hub_server.files(REPO)
    local = {p.name: p.read_bytes() for p in trained.iterdir()}
    assert set(remote) == set(local) | {"README.md", ".gitattributes"}
    assert all(remote[name] == content for name, content in local.items())
    card = ModelCard(remote["README.md"].decode())
    assert card.data.library_name == "transformers" and "order-flow" in card.data.tags


def test_cli_push_with_dataset_to_a_private_branch(hub_server, trained, released):
    main, release = hub_server.commits(REPO), hub_server.commits(REPO, "release")
    assert [c.title for c in release] == ["release 1"] + [c.title for c in main]  # one commit, main untouched
    assert released.stdout.strip().endswith(release[0].oid)
    assert ModelCard(hub_server.files(REPO, "release")["README.md"].decode()).data.datasets == [REPO]
    assert hub_server.repo(REPO, "dataset").private and not hub_server.repo(REPO).private  # created private
    files = hub_server.files(REPO, "release", "dataset")
    assert {p for p in files if p.endswith(".parquet")} == {
        f"data/{s}-00000-of-00001.parquet" for s in ("train", "validation", "test")}
    assert "# tradefm-tiny" in files["README.md"].decode() and "dataset_info:" in files["README.md"].decode()


def test_pull_model_tokenizer_and_dataset_are_identical(pulled, features):
    out, _ = pulled
    assert out["classes"] == ["TradeFMForCausalLM", "TradeFMModel", "TradeFMTokenizer"]
    assert out["weights_identical"] and out["ids_identical"] and out["context_identical"]
    assert out["text_ids_identical"] and out["n_events"] == features.num_rows
    assert out["splits"] == ["test", "train", "validation"] and all(out["rows_identical"].values())


REMOTE = r"""
import importlib.util
sys.path.append(ARGS["site"])  # the libraries, but not the editable tradefm install (-S skips its .pth)
assert all(importlib.util.find_spec(m) is None for m in ("modeling_tradefm", "tokenization", "publishing"))
import numpy as np, pyarrow.parquet as pq, torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

lm = AutoModelForCausalLM.from_pretrained(ARGS["repo"], trust_remote_code=True).eval()
base = AutoModel.from_pretrained(ARGS["repo"], trust_remote_code=True)
tok = AutoTokenizer.from_pretrained(ARGS["repo"], trust_remote_code=True)
batch = torch.load(ARGS["batch"])
with torch.no_grad():
    torch.save(lm(input_ids=batch["ids"], context_ids=batch["ctx"]).logits, ARGS["logits"])
generated = lm.generate(batch["ids"], context_ids=batch["ctx"], max_new_tokens=4, do_sample=False,
                        pad_token_id=tok.pad_token_id)
encoded = tok.encode_events(pq.read_table(ARGS["features"]))
np.save(ARGS["ids"], encoded["input_ids"])
print(json.dumps({"modules": [type(o).__module__ for o in (lm, base, tok)], "generated": generated.tolist(),
                  "decoded": tok.decode(generated[0, -4:])}))
"""


def test_trust_remote_code_without_the_package_then_generate(hub_server, trained, prepared, features, tmp_path):
    rows = load_from_disk(str(prepared))["validation"].select(range(2))
    batch = {"ids": torch.tensor(rows["input_ids"], dtype=torch.long),
             "ctx": torch.tensor(rows["context_ids"], dtype=torch.long)}
    torch.save(batch, tmp_path / "batch.pt")
    pq.write_table(features, tmp_path / "features.parquet")
    args = {"repo": REPO, "site": sysconfig.get_paths()["purelib"], "batch": str(tmp_path / "batch.pt"),
            "logits": str(tmp_path / "logits.pt"), "features": str(tmp_path / "features.parquet"),
            "ids": str(tmp_path / "ids.npy")}
    out = run_python(REMOTE, args, client_env(hub_server.url, tmp_path), tmp_path, isolated=True)

    assert all(m.startswith("transformers_modules") for m in out["modules"]), out["modules"]
    model = TradeFMForCausalLM.from_pretrained(str(trained)).eval()
    with torch.no_grad():
        torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), model(input_ids=batch["ids"],
                                   context_ids=batch["ctx"]).logits, atol=0, rtol=0)
    generated = torch.tensor(out["generated"])
    assert generated.shape == (2, 36) and torch.equal(generated[:, :32], batch["ids"])
    expected = model.generate(batch["ids"], context_ids=batch["ctx"], max_new_tokens=4, do_sample=False,
                              pad_token_id=16384)
    assert torch.equal(generated, expected)
    assert len(out["decoded"].split()) == 4
    reference = TradeFMTokenizer.from_pretrained(str(trained)).encode_events(features)["input_ids"]
    assert np.array_equal(np.load(tmp_path / "ids.npy"), reference)


REVISIONS = r"""
import torch, modeling_tradefm
from transformers import AutoModelForCausalLM
from safetensors.torch import load_file

def weights(**kw):
    return AutoModelForCausalLM.from_pretrained(ARGS["repo"], **kw).state_dict()["lm_head.weight"]

out = {name: torch.equal(weights(revision=rev), load_file(path)["lm_head.weight"])
       for name, rev, path in ARGS["checks"]}
for name, repo, rev in ARGS["missing"]:
    try:
        AutoModelForCausalLM.from_pretrained(repo, revision=rev)
        out[name] = "loaded"
    except OSError as err:
        out[name] = str(err)
print(json.dumps(out))
"""


def test_pinned_revisions_and_missing_ones(hub_server, trained, tmp_path, monkeypatch):
    use_hub_here(monkeypatch, hub_server.url, tmp_path)
    repo = f"{TEST_ORG}/pinned"
    first = push_to_hub(trained, repo)
    changed = copy_checkpoint(trained, tmp_path / "changed")
    tensors = load_file(trained / "model.safetensors")
    tensors["lm_head.weight"] = tensors["lm_head.weight"] + 1.0
    save_file(tensors, changed / "model.safetensors", metadata={"format": "pt"})
    second = push_to_hub(changed, repo)
    branch = push_to_hub(trained, repo, revision="exp")
    assert second.commit_oid != first.commit_oid and branch.revision == "exp"

    out = run_python(REVISIONS, {"repo": repo, "checks": [
        ["pinned_first", first.commit_oid, str(trained / "model.safetensors")],
        ["main_is_second", "main", str(changed / "model.safetensors")],
        ["branch_exp", "exp", str(trained / "model.safetensors")]],
        "missing": [["no_revision", repo, "v9-does-not-exist"], ["no_repo", f"{TEST_ORG}/nope", None]]},
        client_env(hub_server.url, tmp_path), tmp_path)
    assert out["pinned_first"] and out["main_is_second"] and out["branch_exp"]
    assert "v9-does-not-exist" in out["no_revision"] and "not a valid git identifier" in out["no_revision"]
    assert f"{TEST_ORG}/nope" in out["no_repo"] and "not a valid model identifier" in out["no_repo"]


OFFLINE = r"""
import torch, modeling_tradefm, tokenization
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from safetensors.torch import load_file
state, local = AutoModelForCausalLM.from_pretrained(ARGS["repo"]).state_dict(), load_file(ARGS["weights"])
pulled = load_dataset(ARGS["repo"], revision="release")
print(json.dumps({"weights_identical": all(torch.equal(state[k], v) for k, v in local.items()),
                  "vocab": len(AutoTokenizer.from_pretrained(ARGS["repo"])),
                  "rows": {s: d.num_rows for s, d in pulled.items()}}))
"""


def test_offline_reload_from_the_cache_after_the_server_stops(hub_server, pulled, prepared):
    _, (args, home) = pulled
    env = client_env(hub_server.url, home, HF_HUB_OFFLINE="1")
    hub_server.stop()  # refuses connections from now on
    try:
        out = run_python(OFFLINE, args, env, home)
    finally:
        hub_server.start()  # same repositories, new port, for the tests after this one
    assert out["weights_identical"] and out["vocab"] == 16388
    assert out["rows"] == {s: d.num_rows for s, d in load_from_disk(str(prepared)).items()}


def test_the_test_hub_answers_browsing_history_and_deletes_like_the_hub(hub_server):
    """The server's other endpoints, driven by the real client (explicit endpoint, no LFS involved)."""
    api = HfApi(endpoint=hub_server.url, token=TEST_TOKEN)
    repo = f"{TEST_ORG}/browse"
    api.create_repo(repo)
    api.create_commit(repo, [CommitOperationAdd("a/b/c.json", b"{}"), CommitOperationAdd("a/d.txt", b"d"),
                             CommitOperationAdd("e.txt", b"e")], commit_message="add")
    api.create_branch(repo, branch="old")
    api.delete_file("a/d.txt", repo, commit_message="rm d")
    api.delete_folder("a/b", repo, commit_message="rm b")

    assert api.list_repo_files(repo) == [".gitattributes", "e.txt"]
    assert sorted(api.list_repo_files(repo, revision="old")) == [".gitattributes", "a/b/c.json", "a/d.txt", "e.txt"]
    assert [c.title for c in api.list_repo_commits(repo)] == ["rm b", "rm d", "add", "initial commit"]
    refs = api.list_repo_refs(repo)
    assert {b.name for b in refs.branches} == {"main", "old"}
    info = api.get_paths_info(repo, ["a", "a/d.txt", "missing.txt"], revision="old", expand=True)
    assert [(type(i).__name__, i.path, i.last_commit.title) for i in info] == [
        ("RepoFolder", "a", "add"), ("RepoFile", "a/d.txt", "add")]
    tree = {e.path: e for e in api.list_repo_tree(repo, "a", recursive=True, revision="old", expand=True)}
    assert set(tree) == {"a/b", "a/b/c.json", "a/d.txt"} and tree["a/b/c.json"].size == 2
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree(repo, "a"))  # gone on main
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files(repo, revision="nope")
    api.create_repo(f"{TEST_ORG}/secret", private=True)
    assert api.repo_info(f"{TEST_ORG}/secret").private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub_server.url, token=False).repo_info(f"{TEST_ORG}/secret")  # invisible without a token


# ---------------------------------------------------------------------------------------------- bad input
def assert_nothing_uploaded(server: HubServer, repo_id: str, commits_before: int = 0):
    repo = server.repo(repo_id)
    assert (len(server.commits(repo_id)) if repo else 0) == commits_before


def test_pickle_checkpoint_is_refused(hub_server, trained, tmp_path, monkeypatch):
    use_hub_here(monkeypatch, hub_server.url, tmp_path)
    ckpt = copy_checkpoint(trained, tmp_path / "ckpt")
    torch.save(load_file(trained / "model.safetensors"), ckpt / "pytorch_model.bin")
    with pytest.raises(PublishError, match=r"pytorch_model\.bin: pickle checkpoints are refused"):
        push_to_hub(ckpt, f"{TEST_ORG}/pickled")
    assert_nothing_uploaded(hub_server, f"{TEST_ORG}/pickled")


@pytest.mark.parametrize("edit, message", [
    ({"embedding_dim": 32}, r"tensor 'model\.embed\.context\.0\.weight' has shape \[3, 64\] but config\.json"),
    ({"num_hidden_layers": 5}, r"missing tensors \['model\.decoder\.layers\.4\."),
    ({"vocab_size": 16400}, r"'lm_head\.weight' has shape \[16388, 128\] but config\.json .* implies \[16400, 128\]"),
])
def test_config_and_weights_that_disagree_are_refused(hub_server, trained, tmp_path, monkeypatch, edit, message):
    use_hub_here(monkeypatch, hub_server.url, tmp_path)
    ckpt = copy_checkpoint(trained, tmp_path / "ckpt")
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, **edit}))
    with pytest.raises(PublishError, match=message):
        push_to_hub(ckpt, f"{TEST_ORG}/mismatch")
    assert_nothing_uploaded(hub_server, f"{TEST_ORG}/mismatch")


def test_a_tokenizer_that_fails_validation_is_refused(hub_server, trained, tmp_path, monkeypatch):
    use_hub_here(monkeypatch, hub_server.url, tmp_path)
    ckpt = copy_checkpoint(trained, tmp_path / "ckpt")
    calibration = json.loads((ckpt / "tradefm_tokenizer.json").read_text())
    calibration["bins"]["size"]["edges"][3] = -1.0  # no longer non-decreasing
    (ckpt / "tradefm_tokenizer.json").write_text(json.dumps(calibration))
    with pytest.raises(PublishError, match=r"tradefm_tokenizer\.json: tokenizer fails validation.*bins\.size\.edges"):
        push_to_hub(ckpt, f"{TEST_ORG}/badtok")
    (ckpt / "tradefm_tokenizer.json").unlink()
    with pytest.raises(PublishError, match=r"no tokenizer \(tradefm_tokenizer\.json\)"):
        push_to_hub(ckpt, f"{TEST_ORG}/badtok")
    assert_nothing_uploaded(hub_server, f"{TEST_ORG}/badtok")


def test_dataset_from_another_tokenizer_is_refused(hub_server, trained, prepared, tmp_path, monkeypatch):
    use_hub_here(monkeypatch, hub_server.url, tmp_path)
    other = copy_checkpoint(prepared, tmp_path / "prepared")
    calibration = json.loads((other / "tokenizer/tradefm_tokenizer.json").read_text())
    calibration["calibration_window"]["n_events"] += 1
    (other / "tokenizer/tradefm_tokenizer.json").write_text(json.dumps(calibration))
    with pytest.raises(PublishError, match="encoded with a different tokenizer calibration"):
        push_to_hub(trained, f"{TEST_ORG}/otherdata", dataset_dir=other)
    assert hub_server.repo(f"{TEST_ORG}/otherdata", "dataset") is None
    assert_nothing_uploaded(hub_server, f"{TEST_ORG}/otherdata")


def test_missing_token_and_no_write_access(hub_server, trained, tmp_path, monkeypatch):
    use_hub_here(monkeypatch, hub_server.url, tmp_path, token=None)
    with pytest.raises(PublishError, match="no Hugging Face token: set HF_TOKEN or run `hf auth login`"):
        push_to_hub(trained, f"{TEST_ORG}/notoken")
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    with pytest.raises(PublishError, match=r"403 .*rights to write to the namespace someone-else"):
        push_to_hub(trained, "someone-else/tradefm")
    assert_nothing_uploaded(hub_server, f"{TEST_ORG}/notoken")
    assert_nothing_uploaded(hub_server, "someone-else/tradefm")


def test_wrong_token_is_never_shown(hub_server, trained, tmp_path, monkeypatch, caplog, capsys):
    use_hub_here(monkeypatch, hub_server.url, tmp_path, token=WRONG_TOKEN)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PublishError) as err:
        push_to_hub(trained, f"{TEST_ORG}/wrongtoken")
    assert "the Hugging Face token (token=, HF_TOKEN or `hf auth login`) was refused" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    captured = capsys.readouterr()
    assert WRONG_TOKEN not in str(err.value) + caplog.text + captured.out + captured.err
    assert_nothing_uploaded(hub_server, f"{TEST_ORG}/wrongtoken")


def test_a_failed_commit_leaves_the_repository_as_it_was(hub_server, trained, tmp_path, monkeypatch):
    use_hub_here(monkeypatch, hub_server.url, tmp_path)
    repo = f"{TEST_ORG}/atomic"
    push_to_hub(trained, repo)
    before = hub_server.files(repo)
    changed = copy_checkpoint(trained, tmp_path / "changed")
    (changed / "training_summary.json").write_text(json.dumps({"step": 99}))
    hub_server.state.refuse_commits = "storage quota exceeded"
    try:
        with pytest.raises(PublishError, match=f"pushing {changed} to {repo}@main: .*storage quota exceeded"):
            push_to_hub(changed, repo)
    finally:
        hub_server.state.refuse_commits = None
    assert hub_server.files(repo) == before
    assert_nothing_uploaded(hub_server, repo, commits_before=2)


def test_unreachable_hub_is_a_clear_error(trained, tmp_path, monkeypatch):
    server = HubServer().start()
    url = server.url
    server.stop()  # the port is closed now
    use_hub_here(monkeypatch, url, tmp_path)
    with pytest.raises(PublishError, match="checking the token: ConnectError"):
        push_to_hub(trained, f"{TEST_ORG}/unreachable")


# ---------------------------------------------------------------------------------------------- model card
def test_model_card_renders_metadata_training_and_metrics(trained, tmp_path):
    ckpt = copy_checkpoint(trained, tmp_path / "ckpt")
    metrics = {"perplexity": {"tradefm": 41.25, "unigram": 3624.3}, "stylized_facts": {"return_kurtosis": 7.5},
               "hawkes_ratio": 1.82}
    (ckpt / "metrics.json").write_text(json.dumps(metrics))
    info = validate_checkpoint(ckpt)
    card = ModelCard(str(model_card(info, "acme/tradefm-tiny", dataset_repo_id="acme/tradefm-data")))

    assert card.data.library_name == "transformers" and card.data.license == "apache-2.0"
    assert {"finance", "market-microstructure", "order-flow", "time-series"} <= set(card.data.tags)
    assert card.data.datasets == ["acme/tradefm-data"] and card.data.pipeline_tag == "time-series-forecasting"
    n_parameters = sum(t.numel() for t in load_file(trained / "model.safetensors").values())
    assert info.preset == "tiny" and f"| tiny | {n_parameters:,} | 4 | 128 | 512 | 4 / 2 |" in card.text
    summary = json.loads((trained / "training_summary.json").read_text())
    assert f"for {summary['step']} optimizer steps on {summary['train_tokens_seen']:,} tokens" in card.text
    assert f"| val_perplexity | {summary['val_perplexity']:.4g} |" in card.text
    assert "## Evaluation" in card.text and "| perplexity.tradefm | 41.25 |" in card.text
    assert "| stylized_facts.return_kurtosis | 7.5 |" in card.text and "| hawkes_ratio | 1.82 |" in card.text
    window = json.loads((trained / "tradefm_tokenizer.json").read_text())["calibration_window"]
    assert f"Calibrated once on 1 trading day(s) ({window['dates'][0]}) of AMZN: {window['n_events']:,}" in card.text
    assert "| price_offset | δp" in card.text and "16,388 ids in all" in card.text
    assert "arxiv.org/abs/2602.23784" in card.text and "@article{kawawabeaudan2026tradefm" in card.text
    assert "## Evaluation" not in str(model_card(validate_checkpoint(trained), "acme/tradefm-tiny"))
    assert "three context ids" in card.text and "| spread |" not in card.text


def test_tokenizer_section_of_a_spread_context_tokenizer():
    from data_prep.features import session_features, sessions
    from data_prep.sources import read_events
    from publishing.model_card import tokenizer_section
    from tokenization import TradeFMTokenizer

    path = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"
    features = session_features(sessions(read_events(path))[0], 1e6, book_context="spread", path=path)[0]
    text = tokenizer_section(TradeFMTokenizer.calibrate(features, book_context="spread").calibration)
    assert "four context ids" in text and "then the spread bin (8; a one-sided book is the top bin)" in text
    assert "| spread | relative quoted spread" in text


# ---------------------------------------------------------------------------------------------- tradefm-init
def test_init_preset_and_from_checkpoint_load_verbatim(trained, prepared, tmp_path, monkeypatch):
    from transformers import AutoModel, AutoModelForCausalLM

    monkeypatch.chdir(tmp_path)
    assert init_main(["--preset", "tiny", "--output", "tradefm-tiny", "--tokenizer",
                      str(prepared / "tokenizer")]) == 0
    model = AutoModel.from_pretrained("tradefm-tiny")
    assert type(model).__name__ == "TradeFMModel"
    assert ModelCard((tmp_path / "tradefm-tiny/README.md").read_text()).data.library_name == "transformers"
    assert validate_checkpoint("tradefm-tiny").preset == "tiny"

    assert init_main(["--from-checkpoint", str(trained), "--output", "copy"]) == 0
    copied = AutoModelForCausalLM.from_pretrained("copy").state_dict()
    original = load_file(trained / "model.safetensors")
    assert all(torch.equal(copied[k], v) for k, v in original.items())
    assert (tmp_path / "copy/training_summary.json").read_bytes() == (trained / "training_summary.json").read_bytes()

    assert init_main(["--from-checkpoint", str(trained), "--preset", "500m", "--output", "x"]) == 1
    assert init_main(["--preset", "tiny", "--output", "copy"]) == 1  # exists
    with pytest.raises(ValueError, match="unknown model size 'huge'"):
        init_model_dir(tmp_path / "y", preset="huge")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
