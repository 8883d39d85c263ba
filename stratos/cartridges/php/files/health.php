<?php
header('Content-Type: text/plain');
header('Cache-Control: no-store');
echo "ok\n";
