LIBRARY = "library-1"
