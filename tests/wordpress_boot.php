<?php
/*
 * Boot Debian's WordPress (/usr/share/wordpress) against a test database, as one request, and either
 * report what it reads (`read`) or build a network with its own installer (`install`, `populate`).
 * Driven by tests/wordpress.py; the configuration is JSON in argv[2], the database password comes in
 * the WFUWP_WP_DB_PASSWORD environment variable (never in argv). Debian's wp-config.php would read
 * /etc/wordpress/config-HOST.php, so it is bypassed: this file defines what wp-config.php would and
 * requires wp-settings.php directly. The answer is one line `WFUWP-JSON:{...}` on stdout.
 */

error_reporting(E_ALL);
ini_set('display_errors', 'stderr');

$wfuwp_action = $argv[1] ?? '';
$wfuwp_cfg = json_decode($argv[2] ?? '', true);
if (!in_array($wfuwp_action, ['install', 'populate', 'read'], true) || !is_array($wfuwp_cfg)) {
    fwrite(STDERR, "usage: php wordpress_boot.php install|populate|read CONFIG_JSON\n");
    exit(2);
}

define('DB_NAME', $wfuwp_cfg['database']);
define('DB_USER', $wfuwp_cfg['user']);
define('DB_PASSWORD', (string) getenv('WFUWP_WP_DB_PASSWORD'));
define('DB_HOST', $wfuwp_cfg['host'] . ':' . $wfuwp_cfg['port']);
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = $wfuwp_cfg['prefix'];

// The network, as wp-config.php of a multisite install says it (not before the network exists).
if ($wfuwp_action !== 'install') {
    define('WP_ALLOW_MULTISITE', true);
    define('MULTISITE', true);
    define('SUBDOMAIN_INSTALL', (bool) $wfuwp_cfg['subdomain']);
    define('DOMAIN_CURRENT_SITE', $wfuwp_cfg['network_domain']);
    define('PATH_CURRENT_SITE', '/');
    define('SITE_ID_CURRENT_SITE', 1);
    define('BLOG_ID_CURRENT_SITE', 1);
}
if ($wfuwp_action === 'install') {
    define('WP_INSTALLING', true);
}
define('DISABLE_WP_CRON', true);
define('WP_DEBUG', false);
define('ABSPATH', '/usr/share/wordpress/');

// The request: the site's URL in this network.
$wfuwp_url = parse_url($wfuwp_cfg['url']);
$_SERVER['HTTP_HOST'] = $wfuwp_url['host'];
$_SERVER['SERVER_NAME'] = $wfuwp_url['host'];
$_SERVER['REQUEST_URI'] = $wfuwp_url['path'] ?? '/';
$_SERVER['HTTPS'] = ($wfuwp_url['scheme'] ?? 'https') === 'https' ? 'on' : 'off';
$_SERVER['SERVER_PORT'] = $_SERVER['HTTPS'] === 'on' ? '443' : '80';
$_SERVER['REQUEST_METHOD'] = 'GET';
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['PHP_SELF'] = '/index.php';
$_SERVER['REMOTE_ADDR'] = '127.0.0.1';

// Offline: no HTTP request leaves (the installer probes permalinks and wildcard DNS), no mail is sent.
$GLOBALS['wp_filter'] = [
    'pre_http_request' => [
        10 => [
            [
                'function' => static function () {
                    return new WP_Error('wfuwp_offline', 'tests make no HTTP requests');
                },
                'accepted_args' => 1,
            ],
        ],
    ],
];
function wp_mail()
{
    return true;
}

function wfuwp_answer($data)
{
    fwrite(STDOUT, "\nWFUWP-JSON:" . json_encode($data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n");
}

require ABSPATH . 'wp-settings.php';

// Each action is a function: WordPress keeps its state in globals ($blog_id, $post, ...), which
// variables of this file's own would overwrite.
function wfuwp_install(array $cfg)
{
    global $wpdb;
    // What wp-admin/install.php and then wp-admin/network.php do: a site, then the network on it.
    require_once ABSPATH . 'wp-admin/includes/upgrade.php';
    require_once ABSPATH . 'wp-admin/includes/network.php';
    $installed = wp_install('Main', 'admin', 'admin@' . $cfg['network_domain'], true, '', 'not-a-secret-123');
    update_option('siteurl', $cfg['url']);
    update_option('home', $cfg['url']);
    foreach ($wpdb->tables('ms_global') as $table => $prefixed_table) {
        $wpdb->$table = $prefixed_table;
    }
    install_network();
    $result = populate_network(
        1,
        $cfg['network_domain'],
        'admin@' . $cfg['network_domain'],
        'Network',
        '/',
        (bool) $cfg['subdomain']
    );
    if (is_wp_error($result) && $result->get_error_code() !== 'no_wildcard_dns') {
        fwrite(STDERR, 'populate_network: ' . $result->get_error_message() . "\n");
        exit(1);
    }
    return ['user_id' => $installed['user_id']];
}

function wfuwp_populate(array $cfg)
{
    // Sites (wp_insert_site makes their tables), each with a published post, pretty permalinks and a
    // serialized option holding its URL; a site whose `domain` is not the network's is domain-mapped.
    $made = [];
    foreach ($cfg['sites'] as $site) {
        $id = (int) $site['id'];
        if ($id !== 1) {
            $id = wp_insert_site([
                'domain' => $site['domain'],
                'path' => $site['path'],
                'title' => $site['title'],
                'user_id' => 1,
                'network_id' => 1,
            ]);
            if (is_wp_error($id)) {
                fwrite(STDERR, 'wp_insert_site: ' . $id->get_error_message() . "\n");
                exit(1);
            }
        }
        switch_to_blog($id);
        $home = 'https://' . $site['domain'] . rtrim($site['path'], '/');
        update_option('siteurl', $home);
        update_option('home', $home);
        update_option('permalink_structure', '/%year%/%monthnum%/%postname%/');
        update_option('wfuwp_links', ['home' => $home . '/', 'about' => $home . '/about/', 'n' => 3]);
        $post = wp_insert_post([
            'post_title' => $site['title'] . ' news',
            'post_name' => 'news',
            'post_status' => 'publish',
            'post_date' => '2024-03-04 05:06:07',
            'post_content' => 'See <a href="' . $home . '/about/">about</a>.',
        ], true);
        if (is_wp_error($post)) {
            fwrite(STDERR, 'wp_insert_post: ' . $post->get_error_message() . "\n");
            exit(1);
        }
        restore_current_blog();
        $made[] = $id;
    }
    return ['sites' => $made];
}

function wfuwp_read()
{
    global $wpdb;
    $options = [];
    $broken = [];
    foreach ($wpdb->get_results("SELECT option_name, option_value FROM {$wpdb->options}", ARRAY_N) as $row) {
        [$name, $raw] = $row;
        if (!is_serialized($raw)) {
            continue;
        }
        $options[] = $name;
        if (get_option($name) === false && $raw !== 'b:0;') {
            $broken[] = $name;
        }
    }
    $permalinks = [];
    foreach (get_posts(['post_type' => 'any', 'post_status' => 'publish', 'numberposts' => -1]) as $post) {
        $permalinks[(string) $post->ID] = get_permalink($post);
    }
    return [
        'blog_id' => get_current_blog_id(),
        'siteurl' => get_option('siteurl'),
        'home' => get_option('home'),
        'serialized_options' => $options,
        'broken_options' => $broken,
        'permalinks' => $permalinks,
        'wfuwp_links' => get_option('wfuwp_links'),
    ];
}

wfuwp_answer(call_user_func('wfuwp_' . $wfuwp_action, $wfuwp_cfg));
