<?php
// The seed demo's application: which member served the request, and a visit counter kept in the
// linked MySQL. The link arrives as environment variables; the password as a 0600 file.
header('Content-Type: text/plain; charset=utf-8');
header('Cache-Control: no-store');

$release = @file_get_contents(__DIR__ . '/RELEASE');
echo "member: " . gethostname() . "\n";

$host = getenv('DB_HOST');
$password_file = getenv('DB_PASSWORD_FILE');
if (!$host || !$password_file || !is_readable($password_file)) {
    http_response_code(503);
    echo "visits: unavailable (no database link)\n";
    exit;
}
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
try {
    $db = new mysqli($host, getenv('DB_USER'), trim(file_get_contents($password_file)),
                     getenv('DB_NAME'), (int) (getenv('DB_PORT') ?: 3306));
    $db->query('CREATE TABLE IF NOT EXISTS visits (id INT PRIMARY KEY, n BIGINT NOT NULL)');
    // One atomic statement: the counter cannot skip or repeat under concurrent requests.
    $db->query('INSERT INTO visits (id, n) VALUES (1, LAST_INSERT_ID(1))
                ON DUPLICATE KEY UPDATE n = LAST_INSERT_ID(n + 1)');
    $visits = $db->query('SELECT LAST_INSERT_ID()')->fetch_row()[0];
    echo "visits: " . $visits . "\n";
} catch (mysqli_sql_exception $e) {
    http_response_code(503);
    echo "visits: unavailable (" . $e->getCode() . ")\n";
}
if ($release !== false) {
    echo "release: " . trim($release) . "\n";
}
