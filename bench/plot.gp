# Throughput against worker count (bench/run.lua passes datafile, outfile, plottitle).
set terminal pngcairo size 900,560 font "sans,10" noenhanced
set output outfile
set title plottitle
set xlabel "workers (engine) / connections (wrk)"
set ylabel "requests per second (server side)"
set logscale x 2
set xtics (1, 2, 4, 8, 16, 32, 64)
set xrange [0.8:80]
set yrange [0:*]
set grid ytics
set key left top
set format y "%.0f"
plot datafile using 1:3 with linespoints lw 2 pt 7 title "wrk (loopback ceiling)", \
     datafile using 1:2 with linespoints lw 2 pt 5 title "engine (batch_update, trivial on_result)"
