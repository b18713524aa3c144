"""Printing text while a model writes it, one token at a time.

A sample of 300 characters takes seconds on a laptop, GPT-2's tokens longer:
``shapesafe-nn sample`` shows each piece of text as soon as its token is
drawn, instead of a blank screen until the last one.

A byte-level BPE token (GPT-2's) may hold part of a character's UTF-8
bytes; decoded alone, the part is the replacement character U+FFFD.  So
the stream holds back the tokens after the last whole character, and
prints them once the token that completes their character arrives.  What
it prints in all is exactly ``tokenizer.decode(ids)``: a text's pieces,
decoded where they end on whole characters, join to the whole.
"""

import sys

INCOMPLETE = "\ufffd"  # what a decoder writes for bytes that are not (yet) a character


class TextStream:
    """Prints the text of ``prompt`` with the first token :meth:`add`
    receives, then each token's text as it comes; :meth:`close` prints what
    was held back and ends the line.  Nothing is printed before the first
    token: a sampler that refuses its settings leaves the screen empty."""

    def __init__(self, tokenizer, prompt, out=None):
        self.tokenizer = tokenizer
        self.out = out if out is not None else sys.stdout
        self.held = [int(token) for token in prompt]  # ids whose text is not printed yet

    def add(self, token: int) -> None:
        self.held.append(int(token))
        self._print_whole_characters()

    def close(self) -> None:
        self._write(self.tokenizer.decode(self.held))  # a broken character stays broken
        self.held = []
        self._write("\n")

    def _print_whole_characters(self) -> None:
        text = self.tokenizer.decode(self.held)
        if not text.endswith(INCOMPLETE):
            self._write(text)
            self.held = []

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
