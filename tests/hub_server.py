"""A loopback stand-in for the Hugging Face Hub HTTP API (a test double: stdlib only, in memory).

It implements the endpoints that ``huggingface_hub`` 2.x, ``transformers`` and ``datasets`` call to upload
(``whoami-v2``, ``repos/create``, ``branch``, ``validate-yaml``, ``preupload``, the Git LFS ``batch`` API with
the "basic" transfer, ``commit``) and to download (repo info, ``refs``, ``commits``, ``tree``, ``paths-info``,
``resolve``), with the error headers (``X-Error-Code``) the clients turn into
``RepositoryNotFoundError`` / ``RevisionNotFoundError`` / ``EntryNotFoundError``.

What it models: repositories of each type, private ones, branches, commits as immutable snapshots
(revisions are branch names or commit ids), LFS objects by sha256, bearer-token users with organisations
and write rights on their namespaces, atomic commits (a commit that fails changes nothing; LFS objects
uploaded for it stay unreferenced). What it does not: pull requests, tags, Xet storage (clients must run
with ``HF_HUB_DISABLE_XET=1``), pagination, ``Range`` requests, rate limits, persistence.

Use ``HubServer().start()`` (a free port on 127.0.0.1) and point clients at ``server.url`` through
``HF_ENDPOINT`` *before* they import ``huggingface_hub`` (it reads the variable at import time).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

TEST_TOKEN = "hf_loopbackTestToken0123456789abcdef"
TEST_USER = "tradefm-bot"
TEST_ORG = "tradefm-org"
LFS_SUFFIXES = (".safetensors", ".parquet", ".arrow", ".bin", ".pt", ".pth", ".pkl", ".ckpt", ".h5", ".npy", ".zst")
LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub stores files from 10 MB on through LFS whatever their name
GITATTRIBUTES = b"".join(b"*%s filter=lfs diff=lfs merge=lfs -text\n" % s.encode() for s in LFS_SUFFIXES)
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_oid(content: bytes) -> str:
    """Git's object id of a blob: sha1 of ``b"blob <size>\\0" + content`` (hex)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class HubError(Exception):
    """An HTTP error answer: status, ``X-Error-Code`` (optional) and message."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(frozen=True)
class Blob:
    """File content at a path; ``lfs`` files are listed by their pointer's git oid and their sha256."""

    content: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                f"size {len(self.content)}\n").encode()

    @property
    def oid(self) -> str:
        return git_blob_oid(self.pointer if self.lfs else self.content)

    def entry(self, path: str) -> dict:
        """The ``tree`` / ``paths-info`` JSON of this file."""
        out = {"type": "file", "oid": self.oid, "size": len(self.content), "path": path}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": len(self.content), "pointerSize": len(self.pointer)}
        return out


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit:
        """Commit of a branch name (``main``, ``refs/heads/main``) or a full commit id.

        Raises:
            HubError: 404 ``RevisionNotFound``.
        """
        name = revision.removeprefix("refs/heads/")
        oid = self.branches.get(name, name if name in self.commits else None)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[oid]

    def history(self, commit: Commit) -> list[Commit]:
        out = [commit]
        while out[-1].parent is not None:
            out.append(self.commits[out[-1].parent])
        return out

    @property
    def url_path(self) -> str:
        return URL_PREFIX[self.repo_type] + self.repo_id


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _folders(files: dict[str, Blob]) -> set[str]:
    return {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}


class HubState:
    """Repositories, LFS objects and users; every method is called under ``lock``."""

    def __init__(self, tokens: dict[str, tuple[str, list[str]]]):
        self.tokens = tokens
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.refuse_commits: str | None = None  # set to a reason to make every commit fail (fault injection)
        self.lock = threading.Lock()
        self._counter = itertools.count()

    # ------------------------------------------------------------ users and rights
    def user(self, authorization: str | None) -> tuple[str, list[str]] | None:
        """The (name, orgs) of a bearer token; ``None`` without one.

        Raises:
            HubError: 401 for a token that is not known.
        """
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token]

    @staticmethod
    def may_write(user, namespace: str) -> bool:
        return user is not None and (namespace == user[0] or namespace in user[1])

    def require_write(self, user, namespace: str):
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repository")
        if not self.may_write(user, namespace):
            raise HubError(403, f"You don't have the rights to write to the namespace {namespace}")

    def repo(self, repo_type: str, repo_id: str, user, write: bool = False) -> Repo:
        """The repository, if ``user`` may see it (and write to it).

        Raises:
            HubError: 404 ``RepoNotFound`` (also for a private repository of someone else), 401/403 on write.
        """
        repo = self.repos.get((repo_type, repo_id))
        namespace = repo_id.split("/")[0]
        if repo is None or (repo.private and not self.may_write(user, namespace)):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        if write:
            self.require_write(user, namespace)
        return repo

    # ------------------------------------------------------------ writes
    def create_repo(self, repo_type: str, repo_id: str, private: bool, user) -> Repo:
        self.require_write(user, repo_id.split("/")[0])
        if (repo_type, repo_id) in self.repos:
            raise HubError(409, f"You already created this {repo_type} repo")
        repo = Repo(repo_type, repo_id, private)
        self.repos[(repo_type, repo_id)] = repo
        self.commit(repo, "main", {".gitattributes": Blob(GITATTRIBUTES, lfs=False)}, set(), "initial commit", "",
                    user[0])
        return repo

    def commit(self, repo: Repo, branch: str, added: dict[str, Blob], deleted: set[str], title: str, message: str,
               author: str) -> Commit:
        """A new commit on ``branch`` (its head's files, minus ``deleted``, plus ``added``)."""
        head = repo.commits[repo.branches[branch]] if branch in repo.branches else None
        files = dict(head.files) if head else {}
        for path in deleted:
            files.pop(path)
        files.update(added)
        tree = sorted((p, b.oid) for p, b in files.items())
        seed = json.dumps([repo.repo_id, branch, title, next(self._counter), tree])
        oid = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[oid] = Commit(oid, head.oid if head else None, title, message, author, _now(), files)
        repo.branches[branch] = oid
        return repo.commits[oid]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    # ------------------------------------------------------------ plumbing
    def log_message(self, format, *args):  # the test output stays clean; requests are kept in state.requests
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))  # the clients always send a length

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer carries the length but never a body
            self.wfile.write(body)

    def _json(self, data, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(data).encode(), headers)

    def _dispatch(self):
        url = urlsplit(self.path)
        state = self.server.state
        body = self._body() if self.command in ("POST", "PUT") else b""
        try:
            for method, pattern, name in ROUTES:
                match = pattern.fullmatch(url.path)
                if match and self.command in method.split("|"):
                    args = {k: unquote(v) if v is not None else None for k, v in match.groupdict().items()}
                    with state.lock:
                        state.requests.append((self.command, url.path))
                        user = state.user(self.headers.get("Authorization"))
                        getattr(self, name)(state, user, body, parse_qs(url.query), **args)
                    return
            raise HubError(404, f"no route for {self.command} {url.path}")
        except HubError as err:
            headers = {"X-Error-Message": err.message, **({"X-Error-Code": err.code} if err.code else {})}
            self._json({"error": err.message}, err.status, headers)

    do_GET = do_HEAD = do_POST = do_PUT = _dispatch

    def _base(self) -> str:
        return f"http://{self.headers['Host']}"

    # ------------------------------------------------------------ account and repositories
    def whoami(self, state, user, body, query):
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        self._json({"type": "user", "name": user[0], "fullname": user[0],
                    "orgs": [{"type": "org", "name": org} for org in user[1]],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "loopback", "role": "write"}}})

    def create_repo(self, state, user, body, query):
        payload = json.loads(body)
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or (user[0] if user else '')}/{payload['name']}"
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        try:
            repo = state.create_repo(repo_type, repo_id, private, user)
        except HubError as err:
            if err.status == 409:  # clients with exist_ok=True rely on this answer
                self._json({"error": err.message, "url": f"{self._base()}/{URL_PREFIX[repo_type]}{repo_id}"}, 409)
                return
            raise
        self._json({"url": f"{self._base()}/{repo.url_path}", "name": repo_id})

    def validate_yaml(self, state, user, body, query):
        content = json.loads(body)["content"]
        match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as err:
            self._json({"errors": [{"message": f"YAML parse error: {err}"}], "warnings": []}, 400)
            return
        if not isinstance(metadata, dict):
            self._json({"errors": [{"message": "metadata must be a mapping"}], "warnings": []}, 400)
            return
        self._json({"errors": [], "warnings": []})

    def repo_info(self, state, user, body, query, type, ns, name, rev=None):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user)
        commit = repo.resolve(rev or "main")
        self._json({"_id": repo.repo_id, "id": repo.repo_id, "author": ns, "sha": commit.oid,
                    "lastModified": commit.date, "createdAt": repo.history(commit)[-1].date,
                    "private": repo.private, "disabled": False, "gated": False, "downloads": 0, "likes": 0,
                    "tags": [], "siblings": [{"rfilename": path, "size": len(blob.content), "blobId": blob.oid,
                                              **({"lfs": {"sha256": blob.sha256, "size": len(blob.content),
                                                          "pointerSize": len(blob.pointer)}} if blob.lfs else {})}
                                             for path, blob in sorted(commit.files.items())]})

    def refs(self, state, user, body, query, type, ns, name):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user)
        self._json({"branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": oid}
                                 for b, oid in sorted(repo.branches.items())], "converts": [], "tags": []})

    def commits(self, state, user, body, query, type, ns, name, rev):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user)
        self._json([{"id": c.oid, "title": c.title, "message": c.message, "authors": [{"user": c.author}],
                     "date": c.date} for c in repo.history(repo.resolve(rev))])

    def create_branch(self, state, user, body, query, type, ns, name, branch):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user, write=True)
        if branch in repo.branches:
            raise HubError(409, f"Reference refs/heads/{branch} already exists")
        if branch.startswith("refs/") or not re.fullmatch(r"[\w.\-/]+", branch):
            raise HubError(400, f"Invalid reference for a branch: {branch}")
        start = json.loads(body or b"{}").get("startingPoint") or "main"
        repo.branches[branch] = repo.resolve(start).oid
        self._json({})

    # ------------------------------------------------------------ browsing a revision
    def _entries(self, repo: Repo, commit: Commit, paths, expand: bool) -> list[dict]:
        folders = _folders(commit.files)
        out = []
        for path in paths:
            if path in commit.files:
                entry = commit.files[path].entry(path)
            elif path in folders:
                entry = {"type": "directory", "path": path,
                         "oid": hashlib.sha1(f"{commit.oid}:{path}".encode()).hexdigest()}
            else:
                continue
            if expand:
                last = self._last_commit(repo, commit, path)
                entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
            out.append(entry)
        return out

    @staticmethod
    def _last_commit(repo: Repo, commit: Commit, path: str) -> Commit:
        def content(c):
            return sorted((p, b.oid) for p, b in c.files.items() if p == path or p.startswith(path + "/"))

        history = repo.history(commit)
        for newer, older in zip(history, history[1:]):
            if content(newer) != content(older):
                return newer
        return history[-1]

    def tree(self, state, user, body, query, type, ns, name, rev, path=None):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user)
        commit = repo.resolve(rev)
        root = (path or "").strip("/")
        if root and root not in _folders(commit.files):
            raise HubError(404, f"Path {root} does not exist or is not a folder", "EntryNotFound")
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = root + "/" if root else ""
        below = sorted(p for p in set(commit.files) | _folders(commit.files) if p.startswith(prefix))
        if not recursive:
            below = [p for p in below if "/" not in p[len(prefix):]]
        self._json(self._entries(repo, commit, below, query.get("expand", ["false"])[0].lower() == "true"))

    def paths_info(self, state, user, body, query, type, ns, name, rev):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user)
        form = parse_qs(body.decode())
        paths = [p.strip("/") for p in form.get("paths", [])]
        self._json(self._entries(repo, repo.resolve(rev), paths, form.get("expand", ["False"])[0].lower() == "true"))

    def resolve(self, state, user, body, query, prefix, ns, name, rev, path):
        repo = state.repo("dataset" if prefix == "datasets" else "space" if prefix == "spaces" else "model",
                          f"{ns}/{name}", user)
        commit = repo.resolve(rev)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{blob.oid}"'}
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.content))})
        self._send(200, blob.content, headers, "application/octet-stream")

    # ------------------------------------------------------------ uploading
    def _branch_head(self, repo: Repo, rev: str) -> Commit:
        if rev not in repo.branches:
            if rev in repo.commits:
                raise HubError(400, f"Invalid rev id: {rev} is a commit, not a branch")
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[repo.branches[rev]]

    def preupload(self, state, user, body, query, type, ns, name, rev):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user, write=True)
        head = self._branch_head(repo, rev)
        files = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] >= LFS_MIN_SIZE
            existing = head.files.get(f["path"])
            oid = None if existing is None else existing.sha256 if existing.lfs else existing.oid
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        self._json({"files": files, "commitOid": head.oid})

    def lfs_batch(self, state, user, body, query, prefix, ns, name):
        repo_type = "dataset" if prefix == "datasets" else "space" if prefix == "spaces" else "model"
        state.repo(repo_type, f"{ns}/{name}", user, write=True)
        payload = json.loads(body)
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "only the 'basic' upload transfer is supported")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in state.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self._base()}/_lfs/{obj['oid']}?size={obj['size']}"}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def lfs_put(self, state, user, body, query, oid):
        if hashlib.sha256(body).hexdigest() != oid or len(body) != int(query.get("size", [len(body)])[0]):
            raise HubError(400, f"uploaded content does not match LFS object {oid}")
        state.lfs_objects[oid] = body
        self._send(200)

    def commit(self, state, user, body, query, type, ns, name, rev):
        repo = state.repo(REPO_TYPES[type], f"{ns}/{name}", user, write=True)
        if query.get("create_pr"):
            raise HubError(400, "pull requests are not supported by this test server")
        head = self._branch_head(repo, rev)
        if state.refuse_commits:
            raise HubError(422, state.refuse_commits)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        if header.get("parentCommit") not in (None, head.oid):
            raise HubError(412, f"parent commit {header['parentCommit']} is not the head of {rev}")
        added, deleted, files = {}, set(), set(head.files)
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                added[value["path"]] = Blob(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                if value["oid"] not in state.lfs_objects:
                    raise HubError(400, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                added[value["path"]] = Blob(state.lfs_objects[value["oid"]], lfs=True)
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound")
                deleted.add(value["path"])
            elif key == "deletedFolder":
                deleted |= {p for p in files if p.startswith(value["path"].rstrip("/") + "/")}
        commit = state.commit(repo, rev, added, deleted - set(added), header["summary"], header.get("description", ""),
                              user[0])
        self._json({"success": True, "commitOid": commit.oid, "pullRequestUrl": None,
                    "commitUrl": f"{self._base()}/{repo.url_path}/commit/{commit.oid}"})


_API_REPO = r"/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
_FILE_REPO = r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)"
ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in [
    ("GET", r"/api/whoami-v2", "whoami"),
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("GET", _API_REPO + r"(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
    ("GET", _API_REPO + r"/refs", "refs"),
    ("GET", _API_REPO + r"/commits/(?P<rev>[^/]+)", "commits"),
    ("POST", _API_REPO + r"/branch/(?P<branch>[^/]+)", "create_branch"),
    ("GET", _API_REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
    ("POST", _API_REPO + r"/paths-info/(?P<rev>[^/]+)", "paths_info"),
    ("POST", _API_REPO + r"/preupload/(?P<rev>[^/]+)", "preupload"),
    ("POST", _API_REPO + r"/commit/(?P<rev>[^/]+)", "commit"),
    ("POST", _FILE_REPO + r"\.git/info/lfs/objects/batch", "lfs_batch"),
    ("PUT", r"/_lfs/(?P<oid>[0-9a-f]{64})", "lfs_put"),
    ("GET|HEAD", _FILE_REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState


class HubServer:
    """The fake Hub on ``127.0.0.1`` (a free port), serving from a background thread.

    Args:
        tokens: bearer token → (user name, organisations the user may write to). The default knows one
            token, :data:`TEST_TOKEN`, of :data:`TEST_USER` in :data:`TEST_ORG`.
    """

    def __init__(self, tokens: dict[str, tuple[str, list[str]]] | None = None):
        self.state = HubState(tokens or {TEST_TOKEN: (TEST_USER, [TEST_ORG])})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "HubServer":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the port (later connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        """The stored repository (``None`` if it was never created)."""
        with self.state.lock:
            return self.state.repos.get((repo_type, repo_id))

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """Path → content of a revision of a repository."""
        with self.state.lock:
            repo = self.state.repos[(repo_type, repo_id)]
            return {p: b.content for p, b in repo.resolve(revision).files.items()}

    def commits(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[Commit]:
        """Commits reachable from a revision, newest first."""
        with self.state.lock:
            repo = self.state.repos[(repo_type, repo_id)]
            return repo.history(repo.resolve(revision))


@pytest.fixture(scope="module")
def hub_server():
    """A :class:`HubServer` shared by the tests of one module, stopped at its end."""
    server = HubServer().start()
    yield server
    server.stop()
