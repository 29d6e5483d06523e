"""Tables, figures and pages written from the statistics' JSON."""
