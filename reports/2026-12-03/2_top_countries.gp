set encoding utf8
set terminal pngcairo noenhanced size 1000,600 font 'DejaVu Sans,11'
set output '2_top_countries.png.tmp'
set datafile separator "\t"
set title 'Top 10 countries by views, 2026-12-03 (UTC)' font ',15'
unset border
unset tics
unset key
set xrange [0:1]
set yrange [0:1]
set label 1 'no data for 2026-12-03' at graph 0.5, 0.5 center font ',22' tc rgb '#808080'
plot -1 notitle
