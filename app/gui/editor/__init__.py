"""The transcript editor: a model over the document, a painting delegate with an
inline text editor, the view, the find bar and the panel that holds them."""
