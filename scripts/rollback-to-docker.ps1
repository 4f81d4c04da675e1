# Seed-compatible PowerShell wrapper: .\scripts\rollback-to-docker.ps1 [-Force] [-KeepData] [-VerifyOnly]
# = podshift rollback [--force] [--keep-data] [--verify-only] on the project in the current directory
# (podshift finds it as docker compose does).
# Minimal on purpose: all the work is in the podshift CLI.  Untested: PowerShell cannot be installed on
# podshift's development and CI machines (see README).  Other arguments go to podshift unchanged.
[CmdletBinding()]
param(
    [switch]$Force,
    [switch]$KeepData,
    [switch]$VerifyOnly,
    [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest = @()
)
$ErrorActionPreference = 'Stop'
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$candidates = @(
    $env:PODSHIFT,
    (Join-Path $here 'podshift'),
    (Join-Path $here 'podshift.exe'),
    (Join-Path $here '../.venv/bin/podshift'),
    (Join-Path $here '../.venv/Scripts/podshift.exe')
)
$podshift = $candidates | Where-Object { $_ -and (Test-Path -PathType Leaf $_) } | Select-Object -First 1
if (-not $podshift) {
    $found = Get-Command podshift -ErrorAction SilentlyContinue
    if (-not $found) {
        [Console]::Error.WriteLine('rollback-to-docker.ps1: podshift not found: install it, activate its venv, or set $env:PODSHIFT')
        exit 127
    }
    $podshift = $found.Source
}
$argv = @('rollback')
if ($Force) { $argv += '--force' }
if ($KeepData) { $argv += '--keep-data' }
if ($VerifyOnly) { $argv += '--verify-only' }
& $podshift @argv @Rest
exit $LASTEXITCODE
