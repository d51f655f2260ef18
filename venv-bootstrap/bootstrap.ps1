<#
.SYNOPSIS
Create capplan's virtualenv on Windows, install capplan, and write the wrapper Kapacitor's .exec() runs.

.DESCRIPTION
Kapacitor execs a program directly (no shell, its service account's environment), so the wrapper holds
absolute paths only: it activates the venv, changes to the project directory, sets CAPPLAN_CONFIG and
runs the hook with its arguments; stdin (the alert JSON) passes through. Put the printed path in
capplan.toml as kapacitor.exec_wrapper.

Limitation: capplan's hook detaches the retrain with posix_spawn and locks with flock, which Windows
lacks; on Windows the hook refuses with an error until a Windows hand-off exists. Run Kapacitor and the
hook on Linux or macOS for the retrain loop; this script still sets up the CLI (train, forecast, alerts).
#>
param(
    [string]$Project = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path,
    [string]$Venv = "",
    [string]$Config = "",
    [string]$Wrapper = "",
    [string]$Python = "python",
    [switch]$Editable,
    [switch]$NoInstall
)
$ErrorActionPreference = "Stop"

$Project = [System.IO.Path]::GetFullPath($Project)
if (-not $Venv) { $Venv = Join-Path $Project ".venv" }
if (-not $Config) { $Config = Join-Path $Project "capplan.toml" }
$Venv = [System.IO.Path]::GetFullPath($Venv)
$Config = [System.IO.Path]::GetFullPath($Config)
if (-not $Wrapper) { $Wrapper = Join-Path $Venv "Scripts\capplan-kapacitor-exec.cmd" }
$Wrapper = [System.IO.Path]::GetFullPath($Wrapper)
$VenvPython = Join-Path $Venv "Scripts\python.exe"

if (-not $NoInstall) {
    if (-not (Test-Path $VenvPython)) {
        & $Python -m venv $Venv
        if ($LASTEXITCODE -ne 0) { throw "cannot create the venv in $Venv" }
    }
    & $VenvPython -m pip install --quiet --upgrade pip
    $target = if ($Editable) { @("-e", $Project) } else { @($Project) }
    & $VenvPython -m pip install --quiet @target
    if ($LASTEXITCODE -ne 0) { throw "pip install of $Project failed" }
}
if (-not (Test-Path $VenvPython)) { throw "$VenvPython not found; run without -NoInstall" }

# cmd.exe quoting: values go inside double quotes; '%' is doubled so it is not expanded.
function Quote-Cmd([string]$Value) { '"' + $Value.Replace('%', '%%') + '"' }
$lines = @(
    "@echo off",
    "rem Written by capplan venv-bootstrap\bootstrap.ps1: the program Kapacitor execs for capplan alerts.",
    "set " + (Quote-Cmd "VIRTUAL_ENV=$Venv"),
    "set " + (Quote-Cmd "PATH=$Venv\Scripts").TrimEnd('"') + ';%SystemRoot%\system32;%SystemRoot%"',
    "set " + (Quote-Cmd "CAPPLAN_CONFIG=$Config"),
    "cd /d " + (Quote-Cmd $Project) + " || exit /b 2",
    (Quote-Cmd $VenvPython) + " -m capplan.hook %*"
)
New-Item -ItemType Directory -Force -Path (Split-Path $Wrapper) | Out-Null
Set-Content -Path $Wrapper -Value $lines -Encoding ASCII

Write-Output "wrapper: $Wrapper"
Write-Output "add to ${Config}:"
Write-Output "    [kapacitor]"
Write-Output ("    exec_wrapper = '" + $Wrapper + "'")
Write-Output "then: capplan alerts define"
