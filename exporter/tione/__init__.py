"""The TI-ONE domain: typed models of the answers, the API's identity, and the sources, one module per call."""
