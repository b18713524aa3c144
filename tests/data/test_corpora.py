"""Corpora fetched into the cache: checked by SHA-256, written whole, read offline
once there.  No test reaches the network: a small corpus is served from
127.0.0.1, in place of Multi30k's repository."""

import dataclasses
import gzip
import hashlib
import http.server
import threading

import pytest

from shapesafe_nn.data import corpora
from shapesafe_nn.data.corpora import CorpusError, corpus_pairs, download
from shapesafe_nn.data.pairs import load_numbers

from cli_runner import assert_fails, run

# a small German-English corpus with Multi30k's file names: number words stand in
# for captions; line 3 of train.de holds a tab, as line 7,366 of Multi30k's does
NUMBERS = load_numbers("de-en")


def sentences(start: int, count: int, side: int) -> list[str]:
    return [pair[side] for pair in NUMBERS[start:start + count]]


def fixture_files() -> dict[str, bytes]:
    splits = {"train": (0, 60), "val": (60, 12), "test_2016_flickr": (72, 12)}
    files = {}
    for split, (start, count) in splits.items():
        for side, language in enumerate(("de", "en")):
            lines = sentences(start, count, side)
            if (split, language) == ("train", "de"):
                lines[2] = lines[2][:2] + "\t" + lines[2][2:]
            files[f"{split}.{language}.gz"] = gzip.compress(("\n".join(lines) + "\n").encode())
    return files


class Server:
    """A folder of files served over HTTP from 127.0.0.1, counting the requests."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                if name not in server.files:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.files[name])))
                self.end_headers()
                self.wfile.write(server.files[name])

            def log_message(self, *args):  # keep the test output clean
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/raw/"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """(server, corpus): the fixture corpus served locally, standing in for
    Multi30k (its URL the test-only override), with the cache in tmp_path."""
    files = fixture_files()
    server = Server(files)
    corpus = dataclasses.replace(
        corpora.MULTI30K, url=server.url, languages=("de", "en"),
        files={name: (hashlib.sha256(data).hexdigest(), len(data))
               for name, data in files.items()})
    monkeypatch.setitem(corpora.CORPORA, "multi30k", corpus)
    monkeypatch.setenv(corpora.CACHE_VARIABLE, str(tmp_path / "cache"))
    yield server, corpus
    server.stop()


def test_download_checks_each_file_and_fetches_it_once(served, tmp_path):
    server, corpus = served
    lines = []
    paths = download(corpus, quiet=True, log=lines.append)
    assert [path.name for path in paths] == list(corpus.files)
    assert all(path.parent == tmp_path / "cache" / "multi30k" for path in paths)
    for path in paths:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == corpus.files[path.name][0]
    assert sorted(server.requests) == sorted(corpus.files) and len(lines) == len(paths)
    download(corpus, quiet=True, log=lines.append)  # all there: nothing fetched again
    assert len(server.requests) == len(corpus.files)
    assert not list((tmp_path / "cache" / "multi30k").glob(".*"))  # no temporary file left


def test_once_cached_a_corpus_is_read_without_the_network(served):
    server, corpus = served
    download(corpus, quiet=True, log=lambda line: None)
    server.stop()
    pairs, notes = corpus_pairs(corpus, "de-en", "train")
    assert len(pairs) == 60 and pairs[0] == NUMBERS[0]
    # the tab inside a sentence is read as a space, and said
    assert pairs[2][0] == NUMBERS[2][0][:2] + " " + NUMBERS[2][0][2:]
    assert notes == ["train.de.gz: 1 tab(s) inside a sentence read as a space (line 3)"]
    reversed_pairs, _ = corpus_pairs(corpus, "en-de", "val")
    assert reversed_pairs[0] == tuple(reversed(NUMBERS[60]))


def test_offline_and_not_cached_says_where_to_put_the_files(served, tmp_path):
    server, corpus = served
    server.stop()
    with pytest.raises(CorpusError, match=r"multi30k: cannot fetch http://127.0.0.1:\d+/raw/"
                                          r"val.de.gz \(.*\). Without the network, put the files "
                                          r"train.de.gz, .* in .*cache/multi30k"):
        corpus_pairs(corpus, "de-en", "val")


def test_a_file_with_another_sha256_is_refused_and_not_kept(served, tmp_path):
    server, corpus = served
    server.files["val.en.gz"] = gzip.compress(b"something else\n")
    with pytest.raises(CorpusError, match=r"val.en.gz: the file fetched has SHA-256 [0-9a-f]{64}, "
                                          r"not [0-9a-f]{64}: it is not the file this corpus is"):
        download(corpus, ["val.en.gz"], quiet=True)
    assert not (tmp_path / "cache" / "multi30k" / "val.en.gz").exists()
    assert list((tmp_path / "cache" / "multi30k").iterdir()) == []


def test_a_pair_or_split_the_corpus_lacks_is_named(served):
    _, corpus = served
    with pytest.raises(CorpusError, match=r"multi30k: a pair is two of de, en joined by '-' "
                                          r"\(as 'de-en'\), not 'de-fr'"):
        corpus_pairs(corpus, "de-fr", "train")
    with pytest.raises(CorpusError, match=r"a split is one of train, val, test_2016_flickr, not "
                                          r"'test'"):
        corpus_pairs(corpus, "de-en", "test")


def test_the_download_command_fetches_into_the_cache_it_names(served, tmp_path):
    server, corpus = served
    result = run("download", "multi30k", "--quiet")
    assert result.code == 0, result.err
    assert result.out.strip() == (f"multi30k: 6 files in {tmp_path / 'cache' / 'multi30k'}, each "
                                  f"SHA-256 checked (splits train, val, test_2016_flickr; "
                                  f"languages de, en)")
    assert result.err.count("SHA-256 checked) into") == 6
    again = run("download", "multi30k", "--quiet")
    assert again.code == 0 and again.err == "" and len(server.requests) == 6


def test_train_translate_on_the_corpus_then_eval_on_its_test_split(served, tmp_path):
    pytest.importorskip("tokenizers")  # BPE pieces
    pytest.importorskip("sacrebleu")  # BLEU
    server, _ = served
    checkpoint = tmp_path / "m.npz"
    result = run("train", "translate", "--corpus", "multi30k", "--pair", "de-en", "--preset",
                 "tiny", "--steps", "12", "--eval-interval", "6", "--checks", "off",
                 "--tokens", "bpe", "--vocab-size", "200", "--save", checkpoint)
    assert result.code == 0, result.err
    assert result.lines[1].startswith("data: multi30k de-en: 60 train / 12 held-out pairs; ")
    assert "train.de.gz: 1 tab(s) inside a sentence read as a space (line 3)" in result.lines
    assert sorted(server.requests) == ["train.de.gz", "train.en.gz", "val.de.gz", "val.en.gz"]
    evaluated = run("eval", "translate", "--checkpoint", checkpoint, "--split",
                    "test_2016_flickr", "--checks", "off")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.lines[0] == (f"evaluating {checkpoint} on 12 pairs: multi30k de-en "
                                  f"test_2016_flickr (greedy)")
    assert "BLEU signature nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|" in evaluated.out
    assert evaluated.lines[-1].startswith("exact match ") and ", BLEU " in evaluated.lines[-1]
    assert server.requests[-2:] == ["test_2016_flickr.de.gz", "test_2016_flickr.en.gz"]
    assert_fails(run("eval", "translate", "--checkpoint", checkpoint, "--split", "test",
                     "--checks", "off"), 1, "a split is one of train, val, test_2016_flickr")
