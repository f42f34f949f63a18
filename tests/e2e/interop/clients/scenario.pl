#!/usr/bin/perl
# Perl's Net::FTP with IO::Socket::SSL on its defaults (explicit TLS, passive mode, PROT P), with the
# OCES client certificate: runs the interop scenario's steps and prints one JSON line each.
# Usage: scenario.pl HOST PORT CA_PEM CERT_PEM KEY_PEM STEPS_FILE
use strict;
use warnings;
use IO::Socket::SSL;
use JSON::PP;
use Net::FTP;

my ($host, $port, $ca, $cert, $key, $steps) = @ARGV;
my $json = JSON::PP->new->canonical;

sub report {
    my ($ftp, $op, $ok, $names) = @_;
    my %line = (op => $op, ok => $ok ? JSON::PP::true : JSON::PP::false, code => 0 + ($ftp->code // 0),
                reply => join('', $ftp->message // ''));
    $line{reply} =~ s/\s+\z//;
    $line{reply} = $ftp->code . ' ' . $line{reply};
    $line{names} = $names if $names;
    $line{error} = "$@" if !$ok && $@;
    print $json->encode(\%line), "\n";
}

$| = 1;
my $ftp = Net::FTP->new($host, Port => $port, Passive => 1, Timeout => 30,
    SSL_ca_file => $ca, SSL_cert_file => $cert, SSL_key_file => $key)
    or die "connect: $@";
report($ftp, 'connect', 1);
report($ftp, 'auth', $ftp->starttls());
report($ftp, 'login', $ftp->login('anonymous', 'guest'));
$ftp->binary;

open(my $fh, '<', $steps) or die "steps: $!";
while (my $line = <$fh>) {
    chomp $line;
    next unless length $line;
    my ($op, @args) = split /\t/, $line, -1;
    if ($op eq 'list') {
        my @lines = $ftp->dir(length $args[0] ? $args[0] : ());  # LIST, as GUI clients list
        report($ftp, $op, $ftp->ok, [map { (split ' ', $_)[-1] } @lines]);
    } elsif ($op eq 'cwd') { report($ftp, $op, $ftp->cwd($args[0])) }
    elsif ($op eq 'cdup') { report($ftp, $op, $ftp->cdup()) }
    elsif ($op eq 'mkd') { report($ftp, $op, $ftp->mkdir($args[0])) }
    elsif ($op eq 'mfmt') { report($ftp, $op, $ftp->quot('MFMT', $args[1], $args[0]) == 2) }
    elsif ($op eq 'dele') { report($ftp, $op, $ftp->delete($args[0])) }
    elsif ($op eq 'put') { report($ftp, $op, defined $ftp->put($args[0], $args[1])) }
    elsif ($op eq 'get') { report($ftp, $op, defined $ftp->get($args[0], $args[1])) }
    else { die "unknown step $op" }
}
$ftp->quit;
