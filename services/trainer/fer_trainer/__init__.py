"""FER-2013 trainer: data -> model -> fit -> evaluate -> export."""
