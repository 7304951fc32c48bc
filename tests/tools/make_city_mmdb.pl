#!/usr/bin/perl
# make_city_mmdb.pl: write a small MaxMind DB in the GeoIP2-City shape for tests, with
# MaxMind::DB::Writer (Debian libmaxmind-db-writer-perl): record size 24, IPv6 tree with the
# IPv4 space mapped (::/96, ::ffff:0:0/96 and 2002::/16 alias it), each network carrying
# country {iso_code, names.en}, subdivisions [{iso_code, names.en}] and city {names.en}.
#
#   make_city_mmdb.pl OUT.mmdb [NETWORK=CC|COUNTRY|REGION|CITY]...
#
# Without networks the built-in table below is written. Names are UTF-8. Exit 0 written, 2
# usage, 1 when the writer failed.
use strict;
use warnings;
use utf8;
use MaxMind::DB::Writer::Tree;

my @TABLE = (
    '81.2.69.0/24=GB|United Kingdom|England|London',
    '89.160.20.112/28=SE|Sweden|Östergötland County|Linköping',
    '2.125.160.216/29=GB|United Kingdom|England|Boxford',
    '175.16.199.0/24=CN|China|Jilin Sheng|Changchun',
    '2001:480::/32=US|United States|California|San Diego',
    '14.160.0.0/16=VN|Vietnam|Hà Nội|Hà Nội',
    '41.66.0.0/18=CI|Côte d\'Ivoire|Abidjan|Abidjan',
);

my $out = shift @ARGV;
if (!defined $out || $out =~ /^-/) {
    print STDERR "usage: make_city_mmdb.pl OUT.mmdb [NETWORK=CC|COUNTRY|REGION|CITY]...\n";
    exit 2;
}
my @rows = @ARGV ? map { utf8::decode(my $s = $_); $s } @ARGV : @TABLE;

my %types = (
    city         => 'map',
    country      => 'map',
    subdivisions => ['array', 'map'],
    names        => 'map',
    en           => 'utf8_string',
    iso_code     => 'utf8_string',
    geoname_id   => 'uint32',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 24,
    database_type         => 'GeoIP2-City',
    languages             => ['en'],
    description           => { en => 'gust test city database' },
    map_key_type_callback => sub { $types{ $_[0] } },
    alias_ipv6_to_ipv4    => 1,
    remove_reserved_networks => 0,
);

for my $row (@rows) {
    my ($net, $rest) = split /=/, $row, 2;
    my ($cc, $country, $region, $city) = split /\|/, $rest // '', 4;
    if (!defined $city) {
        print STDERR "make_city_mmdb.pl: '$row' is not NETWORK=CC|COUNTRY|REGION|CITY\n";
        exit 2;
    }
    $tree->insert_network($net, {
        country      => { iso_code => $cc, names => { en => $country } },
        subdivisions => [ { iso_code => substr(uc $region, 0, 3), names => { en => $region } } ],
        city         => { names => { en => $city } },
    });
}

open my $fh, '>:raw', $out or die "make_city_mmdb.pl: $out: $!\n";
$tree->write_tree($fh);
close $fh or die "make_city_mmdb.pl: $out: $!\n";
exit 0;
