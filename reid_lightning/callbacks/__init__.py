"""Lightning callbacks: complexity, part-mask pictures, ranked lists."""
