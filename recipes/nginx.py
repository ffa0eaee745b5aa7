"""nginx from scratch, the talk's smallest recipe: no weak deps, no docs, the small alternatives."""

from buildahpy import recipe


@recipe("localhost/nginx:latest")
def nginx(image):
    image.install("glibc-minimal-langpack", "coreutils-single", "nginx")
    image.write_file("/usr/share/nginx/html/index.html", "<h1>hello from buildahpy</h1>\n")
    image.config(
        entrypoint=["/usr/sbin/nginx", "-g", "daemon off;"],
        ports=["80/tcp"],
        labels={"org.opencontainers.image.title": "nginx"},
    )
