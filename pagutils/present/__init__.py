"""Presentation: what a reader sees of a run.

  plots      the course's figures (one style, legends below, readable sizes)
  widgets    sliders over pre-rendered pictures that work in the static book (Chapters 1, 2, 9)
  report     a chapter's results table and its glued numbers (Chapter 1)
  readings   what a reader should believe, from the recorded claims (the Parts' closing pages)
"""
