"""``shapesafe-nn download CORPUS``: fetch a corpus into the cache, checked.

The one command that reaches the network, with ``train translate
--corpus``; see :mod:`shapesafe_nn.data.corpora`.
"""

from ..data.corpora import CACHE_VARIABLE, CORPORA, corpus_folder, download


def add_commands(commands) -> None:
    fetch = commands.add_parser(
        "download", help="fetch a corpus (multi30k) into the cache",
        description=f"Fetch a corpus's files into ~/.cache/shapesafe_nn (or ${CACHE_VARIABLE}), "
                    f"checking each file's SHA-256; files already there are not fetched "
                    f"again.")
    fetch.add_argument("corpus", choices=sorted(CORPORA))
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(run=run_download)


def run_download(args) -> int:
    corpus = CORPORA[args.corpus]
    paths = download(corpus, quiet=args.quiet)
    print(f"{corpus.name}: {len(paths)} files in {corpus_folder(corpus)}, each SHA-256 checked "
          f"(splits {', '.join(corpus.splits)}; languages {', '.join(corpus.languages)})")
    return 0
