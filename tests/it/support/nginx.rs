//! nginx's configuration for a test server: one process in the foreground,
//! every file it writes under `work`, serving `root` on `listen` (e.g.
//! `127.0.0.1:8080`, or `127.0.0.1:8443 ssl` with `server_extra` naming the
//! certificate). Shared with `tests/mktorrent.rs`.

use std::path::Path;

pub fn conf(work: &Path, listen: &str, root: &Path, server_extra: &str) -> String {
    let w = work.display();
    format!(
        "daemon off; master_process off; worker_processes 1; pid {w}/nginx.pid;\n\
         error_log {w}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log {w}/access.log; client_body_temp_path {w}/body;\n\
           proxy_temp_path {w}/proxy; fastcgi_temp_path {w}/fcgi; uwsgi_temp_path {w}/uwsgi;\n\
           scgi_temp_path {w}/scgi;\n\
           server {{ listen {listen}; {server_extra} root {}; }} }}\n",
        root.display()
    )
}
