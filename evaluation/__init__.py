"""`atelier eval`: measured quality of what users see (search, labels, sketches, generation, try-on), each a report."""
