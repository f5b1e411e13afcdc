"""The blog's Atom feed and the site's sitemap: public XML reads, cached like the others."""
