# Read by cpack for each generator (CPACK_PROJECT_CONFIG_FILE): the Debian release comes from
# the environment at packaging time, ISOCKET_DEB_RELEASE (default 1), so that one build can cut
# an older and a newer package for the upgrade test; isocket-gui depends on the very same
# version of isocket.
if(DEFINED ENV{ISOCKET_DEB_RELEASE})
    set(CPACK_DEBIAN_PACKAGE_RELEASE "$ENV{ISOCKET_DEB_RELEASE}")
else()
    set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
endif()
set(_full "${CPACK_DEBIAN_PACKAGE_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
# The SVG image and icon plugins are loaded at run time, which dpkg-shlibdeps cannot see.
set(CPACK_DEBIAN_GUI_PACKAGE_DEPENDS "isocket (= ${_full}), libqt6svg6")
# Each package's synopsis is the first line of its own description (CPACK_DEBIAN_*_DESCRIPTION),
# not the project's one-line summary, which CPack would put above both.
if(CPACK_GENERATOR STREQUAL "DEB")
    unset(CPACK_PACKAGE_DESCRIPTION_SUMMARY)
endif()
